/** What every command prints on stdout: lines for people, or with --json one JSON document for scripts. */

export const print = (line: string) => console.log(line);
export const printJson = (value: unknown) => console.log(JSON.stringify(value, null, 2));
export const jsonOption = { type: 'boolean', help: 'print the result as JSON on stdout (for scripts)' } as const;
