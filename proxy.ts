import { NextResponse, type NextRequest } from 'next/server';

/**
 * Sends visitors without a session cookie to the sign-in page. This is only a convenience redirect:
 * every API call checks the session on the server.
 */
export function proxy(request: NextRequest) {
  const hasSession = request.cookies.getAll().some((c) => c.name.endsWith('boxyard.session_token'));
  if (!hasSession) {
    const login = new URL('/login', request.url);
    login.searchParams.set('next', request.nextUrl.pathname + request.nextUrl.search);
    return NextResponse.redirect(login);
  }
  return NextResponse.next();
}

export const config = { matcher: ['/((?!login|api/|_next/|favicon.ico|icon.svg).*)'] };
