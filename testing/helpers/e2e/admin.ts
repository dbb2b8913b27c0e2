/** The first admin the e2e dashboard is started with (playwright.config.ts passes it in the environment). */
export const e2eAdmin = { email: 'admin@e2e.test', password: 'e2e-admin-password' };
