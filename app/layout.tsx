import type { Metadata } from 'next';
import { connection } from 'next/server';
import type { ReactNode } from 'react';
import { Providers } from '../components/providers';
import './globals.css';

export const metadata: Metadata = {
  title: 'Boxyard',
  description: "Your team's development boxes in one place",
  icons: { icon: '/icon.svg' },
};

export default async function RootLayout({ children }: { children: ReactNode }) {
  // Rendered per request: Next puts the request's CSP nonce (server/http/security-headers.ts) on its scripts, and a
  // page prerendered at build time would carry none, so the browser would refuse its scripts.
  await connection();
  return (
    <html lang="en">
      <body className="min-h-screen bg-slate-50 font-sans text-slate-900 antialiased">
        <Providers>{children}</Providers>
      </body>
    </html>
  );
}
