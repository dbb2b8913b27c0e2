/** Where the dashboard serves its tRPC API (server/http/trpc-route.ts); the browser and the CLI call it there. */
export const TRPC_PATH = '/api/trpc';
