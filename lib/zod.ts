import { z } from 'zod';

/**
 * zod for the schemas in lib/, which the browser runs too. zod compiles object schemas with `new Function` once it has
 * probed that eval works, and builds them when their module loads; the dashboard's CSP allows no eval
 * (server/http/security-headers.ts), so in the browser the probe would be reported as a violation. There, zod is set
 * to interpret (plenty for forms and terminal messages) before any schema of lib/ exists.
 */
if (typeof window !== 'undefined') z.config({ jitless: true });

export { z };
