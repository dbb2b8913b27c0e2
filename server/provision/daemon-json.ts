import { z } from 'zod';
import { DAEMON_JSON } from './docker-commands';
import { errorMessage } from '../../lib/errors';

/** /etc/docker/daemon.json: the admin's settings merged into what the box has, never dropping what we do not know. */

type JsonValue = z.infer<ReturnType<typeof z.json>>;
export type JsonObject = { [key: string]: JsonValue };

/** dockerd wants every log-opts value as a string ("3", not 3). */
const logOptValue = z.union([z.string().max(1024), z.number().int().min(0).max(1e9)]).transform(String);

/**
 * The admin's settings: log rotation spelled out (validated), and any other daemon.json key passed through as given
 * (dockerd refuses to start on keys it does not know; the recipe puts the old file back then).
 */
export const daemonJsonSettings = z
  .object({
    'log-driver': z.string().min(1).max(64, 'A log driver name is at most 64 characters.').optional(),
    'log-opts': z
      .object({
        'max-size': z.string().max(16, 'max-size looks like 10m, 512k or 1g').regex(/^\d+[kmg]?$/i, 'max-size looks like 10m, 512k or 1g').optional(),
        'max-file': z.union([z.string().max(6).regex(/^\d+$/, 'max-file is a number of files'), z.number().int().min(1).max(100_000)]).transform(String).optional(),
      })
      .catchall(logOptValue)
      .optional(),
  })
  .catchall(z.json());

/** Rotation for the default json-file driver: without it, container logs grow until the disk is full. */
export const defaultDaemonJson = { 'log-driver': 'json-file', 'log-opts': { 'max-size': '10m', 'max-file': '3' } };

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Objects merge key by key at every depth (so log-opts keeps options it already had); anything else is replaced. */
export function mergeDaemonJson(existing: JsonObject, wanted: JsonObject): JsonObject {
  const merged: JsonObject = { ...existing };
  for (const [key, value] of Object.entries(wanted)) {
    const current = merged[key];
    merged[key] = isObject(current) && isObject(value) ? mergeDaemonJson(current, value) : value;
  }
  return merged;
}

/** JSON with keys sorted at every depth: two configs are the same when their canonical forms are. */
function canonical(value: JsonValue): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (isObject(value)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonical(value[key]!)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function sameJson(a: JsonObject, b: JsonObject): boolean {
  return canonical(a) === canonical(b);
}

/** How the file is written: indented, with a final newline. */
export function renderDaemonJson(config: JsonObject): string {
  return `${JSON.stringify(config, null, 2)}\n`;
}

const SHOWN_LINES = 8;

/** The box's daemon.json, or why it cannot be merged into (then it must be left alone). */
export function parseDaemonJson(text: string): { config: JsonObject } | { invalid: string } {
  // An empty file holds no settings to keep.
  if (!text.trim()) return { config: {} };
  let reason: string;
  try {
    const parsed: unknown = JSON.parse(text);
    if (isObject(parsed)) return { config: parsed };
    reason = 'it is not a JSON object';
  } catch (error) {
    reason = errorMessage(error);
  }
  const lines = text.split('\n');
  const shown = lines.slice(0, SHOWN_LINES).join('\n') + (lines.length > SHOWN_LINES ? '\n...' : '');
  return {
    invalid: `${DAEMON_JSON} on the box is not valid JSON (${reason}), so it was left as it is; fix or remove it and run the job again. It begins:\n${shown}`,
  };
}
