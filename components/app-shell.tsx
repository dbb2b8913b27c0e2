'use client';
import { useQuery } from '@tanstack/react-query';
import { TRPCClientError } from '@trpc/client';
import Link from 'next/link';
import { usePathname, useRouter } from 'next/navigation';
import { useEffect, type ReactNode } from 'react';
import { authClient } from './auth-client';
import { OriginWarning } from './origin-warning';
import { useTRPC } from './trpc';

const links = [
  { href: '/', label: 'Fleet', adminOnly: false },
  { href: '/jobs', label: 'Jobs', adminOnly: false },
  { href: '/hosts', label: 'Hosts', adminOnly: true },
  { href: '/users', label: 'Users', adminOnly: true },
  { href: '/groups', label: 'Groups', adminOnly: true },
  { href: '/audit', label: 'Audit log', adminOnly: true },
  { href: '/sessions', label: 'Sessions', adminOnly: true },
  { href: '/profile', label: 'Profile', adminOnly: false },
];

const PASSWORD_PAGE = '/password';

export function AppShell({ children }: { children: ReactNode }) {
  const trpc = useTRPC();
  const router = useRouter();
  const pathname = usePathname();
  const me = useQuery(trpc.users.me.queryOptions());

  const signedOut = me.error instanceof TRPCClientError && me.error.data?.code === 'UNAUTHORIZED';
  useEffect(() => {
    if (signedOut) router.replace(`/login?next=${encodeURIComponent(pathname)}`);
  }, [signedOut, router, pathname]);

  // An admin asked for a new password: that page comes before any other.
  const mustChoosePassword = me.data?.mustChangePassword === true;
  const onPasswordPage = pathname === PASSWORD_PAGE;
  useEffect(() => {
    if (mustChoosePassword && !onPasswordPage) router.replace(PASSWORD_PAGE);
  }, [mustChoosePassword, onPasswordPage, router]);
  const showPage = me.data && (!mustChoosePassword || onPasswordPage);

  return (
    <div className="min-h-screen">
      <header className="border-b border-slate-200 bg-white">
        <nav className="mx-auto flex max-w-7xl items-center gap-6 px-4 py-3" aria-label="Main">
          <Link href="/" className="flex items-center gap-2 font-semibold">
            <img src="/icon.svg" alt="" className="size-6" />
            Boxyard
          </Link>
          <ul className="flex gap-1 text-sm">
            {links
              .filter((l) => !l.adminOnly || me.data?.role === 'admin')
              .map((l) => {
                const active = l.href === '/' ? pathname === '/' || pathname.startsWith('/boxes') : pathname.startsWith(l.href);
                return (
                  <li key={l.href}>
                    <Link
                      href={l.href}
                      aria-current={active ? 'page' : undefined}
                      className={`rounded-md px-2.5 py-1.5 ${active ? 'bg-slate-100 font-medium' : 'text-slate-600 hover:text-slate-900'}`}
                    >
                      {l.label}
                    </Link>
                  </li>
                );
              })}
          </ul>
          <div className="ml-auto flex items-center gap-3 text-sm">
            {me.data && (
              <span className="text-slate-600" data-testid="signed-in-as">
                {me.data.email} <span className="rounded bg-slate-100 px-1.5 py-0.5 text-xs">{me.data.role}</span>
              </span>
            )}
            <button
              type="button"
              className="text-slate-600 hover:text-slate-900"
              onClick={async () => {
                await authClient.signOut();
                router.replace('/login');
              }}
            >
              Sign out
            </button>
          </div>
        </nav>
      </header>
      <OriginWarning />
      <main className="mx-auto max-w-7xl px-4 py-6">{showPage ? children : <p className="text-sm text-slate-500">Loading…</p>}</main>
    </div>
  );
}

