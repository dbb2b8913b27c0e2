'use client';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { TRPCClientError } from '@trpc/client';
import Link from 'next/link';
import { usePathname, useRouter } from 'next/navigation';
import { useEffect, useState, type ReactNode } from 'react';
import { authClient } from './auth-client';
import { prefetchFleet } from './fleet-queries';
import { OriginWarning } from './origin-warning';
import { word } from '../lib/words';
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

/** Whether a page is for admins only: the admin-only links and everything under them. */
function shownTo(pathname: string): 'admins' | 'everyone' {
  return links.some((l) => l.adminOnly && (pathname === l.href || pathname.startsWith(`${l.href}/`))) ? 'admins' : 'everyone';
}

/** What a developer sees on an admin's page: why, instead of an empty table and forms that would be refused. */
function AdminsOnly() {
  return (
    <div className="rounded-lg bg-white p-6 shadow-sm ring-1 ring-slate-200" data-testid="admins-only">
      <h1 className="text-lg font-semibold">Admins only</h1>
      <p className="mt-2 text-sm text-slate-600">
        This page is for the dashboard&apos;s admins. Ask an admin if you need something here;{' '}
        <Link href="/" className="text-indigo-700 hover:underline">
          your boxes are on the fleet
        </Link>
        .
      </p>
    </div>
  );
}

export function AppShell({ children }: { children: ReactNode }) {
  const trpc = useTRPC();
  const router = useRouter();
  const pathname = usePathname();
  const me = useQuery(trpc.users.me.queryOptions());
  const queryClient = useQueryClient();
  // The fleet (the first page after sign-in, and the heaviest) starts its queries along with users.me.
  useEffect(() => {
    if (pathname === '/') prefetchFleet(queryClient, trpc);
  }, [pathname, queryClient, trpc]);

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
  const [menuOpen, setMenuOpen] = useState(false);
  // A page change closes the phone menu.
  useEffect(() => setMenuOpen(false), [pathname]);
  const shown = links.filter((l) => !l.adminOnly || me.data?.role === 'admin');
  const isActive = (href: string) => (href === '/' ? pathname === '/' || pathname.startsWith('/boxes') : pathname.startsWith(href));
  const linkClass = (href: string) => `block rounded-md px-2.5 py-1.5 ${isActive(href) ? 'bg-slate-100 font-medium' : 'text-slate-600 hover:text-slate-900'}`;
  /** The page links: in a row on wide windows, in the phone menu on narrow ones. */
  const navList = (className: string) => (
    <ul className={className}>
      {shown.map((l) => (
        <li key={l.href}>
          <Link href={l.href} aria-current={isActive(l.href) ? 'page' : undefined} className={linkClass(l.href)}>
            {l.label}
          </Link>
        </li>
      ))}
    </ul>
  );
  const signOut = async () => {
    await authClient.signOut();
    router.replace('/login');
  };

  return (
    <div className="min-h-screen">
      <header className="border-b border-slate-200 bg-white">
        <nav className="mx-auto flex max-w-7xl items-center gap-6 px-4 py-3" aria-label="Main">
          <Link href="/" className="flex items-center gap-2 font-semibold">
            <img src="/icon.svg" alt="" className="size-6" />
            Boxyard
          </Link>
          {/* Wide windows: the links in a row. Phones: behind the menu button (below). */}
          {navList('hidden gap-1 text-sm md:flex')}
          <div className="ml-auto flex min-w-0 items-center gap-3 text-sm">
            {me.data && (
              <span className="hidden truncate text-slate-600 md:inline" data-testid="signed-in-as">
                {me.data.email} <span className="rounded bg-slate-100 px-1.5 py-0.5 text-xs">{word('roles', me.data.role)}</span>
              </span>
            )}
            <button type="button" className="hidden text-slate-600 hover:text-slate-900 md:inline" onClick={() => void signOut()}>
              Sign out
            </button>
            <button
              type="button"
              className="rounded-md px-2.5 py-1.5 text-slate-700 ring-1 ring-slate-300 md:hidden"
              aria-expanded={menuOpen}
              aria-controls="phone-menu"
              onClick={() => setMenuOpen(!menuOpen)}
            >
              Menu
            </button>
          </div>
        </nav>
        {menuOpen && (
          <div id="phone-menu" className="border-t border-slate-100 px-4 py-3 text-sm md:hidden">
            {navList('space-y-1')}
            {me.data && (
              <p className="mt-3 break-all px-2.5 text-slate-600">
                {me.data.email} · {word('roles', me.data.role)}
              </p>
            )}
            <button type="button" className="mt-2 px-2.5 py-1.5 text-slate-600 hover:text-slate-900" onClick={() => void signOut()}>
              Sign out
            </button>
          </div>
        )}
      </header>
      <OriginWarning />
      <main className="mx-auto max-w-7xl px-4 py-6">
        {!showPage ? (
          <p className="text-sm text-slate-500">Loading…</p>
        ) : me.data?.role !== 'admin' && shownTo(pathname) === 'admins' ? (
          <AdminsOnly />
        ) : (
          children
        )}
      </main>
    </div>
  );
}

