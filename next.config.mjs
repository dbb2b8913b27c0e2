// Next serves only pages; the API, auth and (later) WebSockets are the custom server's (server/main.ts).
// JavaScript, not TypeScript: Next loads this file at every start of the production server too, and a .ts config
// makes it load its SWC compiler to read it (24 MB of RSS and ~0.2 s, for three settings).
/** @type {import('next').NextConfig} */
const nextConfig = {
  poweredByHeader: false,
  reactStrictMode: true,
  typescript: { tsconfigPath: 'tsconfig.json' },
  // Each page's server code is loaded by its first request, not all of them at start: a start on 2 cores is
  // quicker and a dashboard keeps only the pages people open in memory.
  experimental: { preloadEntriesOnStart: false },
};

export default nextConfig;
