// Every input of every tRPC procedure, read from the router itself (a procedure added later is checked without editing
// this test): each number has a range chosen for it, each string and list a length cap, and the input of an update
// fills in no defaults (an update changes only the fields it is given).
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { appRouter } from './router';

type JsonSchema = {
  type?: string | string[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  maxLength?: number;
  maxItems?: number;
  enum?: unknown[];
  const?: unknown;
  format?: string;
  default?: unknown;
  $ref?: string;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  $defs?: Record<string, JsonSchema>;
};

/**
 * Parts of an input left open on purpose, by procedure path and the place inside its input, with why. The whole
 * request is still capped (MAX_TRPC_BODY_BYTES in lib/trpc-path.ts).
 */
const openOnPurpose: Record<string, string> = {
  'provision.docker daemonJson.*': "daemon.json's other keys are dockerd's, passed through as given (the recipe puts the old file back when dockerd refuses them)",
};

const procedures = (appRouter as unknown as { _def: { procedures: Record<string, { _def: { type: string; inputs: z.ZodType[] } }> } })._def.procedures;

function inputSchemas(path: string): JsonSchema[] {
  return procedures[path]!._def.inputs.map((input) => z.toJSONSchema(input, { io: 'input', unrepresentable: 'any' }) as JsonSchema);
}

/** Every place in `schema` that takes a value without a bound, as "where: what is missing". */
function unbounded(path: string, schema: JsonSchema, where: string, found: string[]): void {
  if (openOnPurpose[`${path} ${where}`]) return;
  for (const choice of [...(schema.anyOf ?? []), ...(schema.oneOf ?? []), ...(schema.allOf ?? [])]) unbounded(path, choice, where, found);
  if (schema.$ref) found.push(`${where}: a recursive value with no bound`);
  if (schema.enum || schema.const !== undefined) return;
  const types = schema.type === undefined ? [] : Array.isArray(schema.type) ? schema.type : [schema.type];
  for (const type of types) {
    if (type === 'number' || type === 'integer') {
      const low = schema.minimum ?? schema.exclusiveMinimum;
      const high = schema.maximum ?? schema.exclusiveMaximum;
      // z.number().int() alone says "a safe integer": that is no range chosen for the value.
      if (low === undefined || low <= Number.MIN_SAFE_INTEGER) found.push(`${where}: a number with no lower bound`);
      if (high === undefined || high >= Number.MAX_SAFE_INTEGER) found.push(`${where}: a number with no upper bound`);
    }
    if (type === 'string' && schema.maxLength === undefined && schema.format !== 'uuid') found.push(`${where}: a string with no maximum length`);
    if (type === 'array') {
      if (schema.maxItems === undefined) found.push(`${where}: a list with no maximum length`);
      if (schema.items) unbounded(path, schema.items, `${where}[]`, found);
    }
    if (type === 'object') {
      for (const [key, value] of Object.entries(schema.properties ?? {})) unbounded(path, value, where ? `${where}.${key}` : key, found);
      if (typeof schema.additionalProperties === 'object') unbounded(path, schema.additionalProperties, where ? `${where}.*` : '*', found);
    }
  }
}

function defaults(schema: JsonSchema, where: string, found: string[]): void {
  if (schema.default !== undefined) found.push(where || '(the input)');
  for (const choice of [...(schema.anyOf ?? []), ...(schema.oneOf ?? []), ...(schema.allOf ?? [])]) defaults(choice, where, found);
  for (const [key, value] of Object.entries(schema.properties ?? {})) defaults(value, where ? `${where}.${key}` : key, found);
  if (schema.items) defaults(schema.items, `${where}[]`, found);
}

describe('the inputs of every procedure', () => {
  const paths = Object.keys(procedures);

  it('the router has procedures to check', () => {
    expect(paths.length).toBeGreaterThan(40);
  });

  it.each(paths)('%s: every number has a range, every string and list a maximum length', (path) => {
    const found: string[] = [];
    for (const schema of inputSchemas(path)) unbounded(path, schema, '', found);
    expect(found, `bound these in the procedure's input (shapes in lib/validation.ts), or list the place in openOnPurpose with why`).toEqual([]);
  });

  const updates = paths.filter((path) => /^(update|patch|set)/.test(path.split('.').at(-1)!));

  it('the updates are found by name', () => {
    expect(updates).toEqual(expect.arrayContaining(['boxes.update', 'metrics.updateSettings', 'users.setRole']));
  });

  it.each(updates)('%s: its input fills in no defaults (build it with patchOf)', (path) => {
    const found: string[] = [];
    for (const schema of inputSchemas(path)) defaults(schema, '', found);
    expect(found, 'a field left out of an update must stay as it is, not take a default').toEqual([]);
  });
});
