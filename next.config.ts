import type { NextConfig } from 'next';

// Next serves only pages; the API, auth and (later) WebSockets are the custom server's (server/main.ts).
const nextConfig: NextConfig = {
  poweredByHeader: false,
  reactStrictMode: true,
  typescript: { tsconfigPath: 'tsconfig.json' },
};

export default nextConfig;
