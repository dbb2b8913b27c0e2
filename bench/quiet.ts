// Imported first by every bench script: server/log.ts reads LOG_LEVEL when it is first loaded, and the JSON info
// lines (migrations applied, ssh connected) would drown the figures. LOG_LEVEL=debug still works.
process.env.LOG_LEVEL ??= 'warn';
