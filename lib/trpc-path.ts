/** Where the dashboard serves its tRPC API (server/http/trpc-route.ts); the browser and the CLI call it there. */
export const TRPC_PATH = '/api/trpc';

/**
 * Calls one tRPC request may batch. The clients' httpBatchLink splits at this size (`maxItems`), so only a hand-made
 * request meets the refusal; a page's queries of one render stay far below it.
 */
export const MAX_BATCH_CALLS = 32;
/** Calls a request without a session may batch: the signed-out pages make one or two (the public origin, who am I). */
export const MAX_SIGNED_OUT_BATCH_CALLS = 4;
/** Body of one tRPC request (a batch of mutations): the largest input, a mounts YAML of 256,000 characters, fits. */
export const MAX_TRPC_BODY_BYTES = 2 * 1024 * 1024;
