import { z } from './zod';

/**
 * Input rules shared by the browser forms and the server (the server always re-checks).
 * Names are DNS-label-like so they work unchanged as ssh `Host` aliases and docker context names.
 */
/** A zod refusal as one sentence a user can act on: each problem, with the field it is about. */
export function issuesSentence(error: z.ZodError): string {
  return error.issues.map((issue) => (issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message)).join('; ');
}

/** The id of a stored row (box, host, job, key...) as the API accepts it. */
export const recordId = z.string().min(1).max(64);
/** Input of a procedure on one row named `id`. */
export const idInput = z.object({ id: recordId });
/** Input of a procedure on one box named `boxId`. */
export const boxIdInput = z.object({ boxId: recordId });
/** Input of a procedure on one hypervisor host named `hostId`. */
export const hostIdInput = z.object({ hostId: recordId });

/**
 * The input of a partial update made from the fields of a create: each field may be left out, and one left out is
 * left alone. zod's own `.partial()` keeps every `.default()`, so an update given only a name would write the
 * default of every other field (port 22, no tags, no members). Transforms and checks of each field stay.
 */
export function patchOf<Shape extends z.ZodRawShape>(fields: z.ZodObject<Shape>) {
  const shape = Object.fromEntries(
    Object.entries(fields.shape).map(([key, field]) => [key, z.optional(field instanceof z.ZodDefault ? field.removeDefault() : field)]),
  );
  return z.object(shape) as unknown as z.ZodObject<{ [Key in keyof Shape]: z.ZodOptional<WithoutDefault<Shape[Key]>> }>;
}
type WithoutDefault<Field> = Field extends z.ZodDefault<infer Inner> ? Inner : Field;

/** Latest moment an API input may name: the end of year 9999, within what a Date, SQLite and PostgreSQL all hold. */
export const MAX_EPOCH_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
/** A moment as milliseconds since 1970 (a chart's range, a cursor's time). */
export const epochMs = z
  .number('A time is a number of milliseconds since 1970.')
  .int('A time is whole milliseconds since 1970.')
  .min(0, 'A time is not before 1970.')
  .max(MAX_EPOCH_MS, 'A time is not after the year 9999.');
/** How many rows one page of a list asks for. */
export const pageSize = z.number().int('A page size is a whole number.').min(1, 'A page holds at least 1 row.').max(200, 'A page holds at most 200 rows.');
/** The id of a server-sent event to resume after, as tRPC's subscription link sends it back. */
export const eventCursor = z.string().max(15, 'An event id is a number of at most 15 digits.').regex(/^\d+$/, 'An event id is a number of at most 15 digits.');

export const boxName = z
  .string()
  .trim()
  .min(1, 'Name is required.')
  .max(63, 'Name is at most 63 characters.')
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'Use lowercase letters, digits and inner hyphens (e.g. "web-dev-1").');

const ipv4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const hostnameRe = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/;
const ipv6 = /^[0-9a-fA-F:]+(%[a-zA-Z0-9]+)?$/;

export const hostAddress = z
  .string()
  .trim()
  .min(1, 'Host is required.')
  .max(253, 'Host is at most 253 characters.')
  .refine(
    (v) => ipv4.test(v) || hostnameRe.test(v) || (v.includes(':') && ipv6.test(v)),
    'Enter a hostname (box.example.com) or an IP address (203.0.113.7, 2001:db8::1).',
  );

export const sshPort = z.coerce.number().int('Port is a whole number.').min(1, 'Port is 1 to 65535.').max(65535, 'Port is 1 to 65535.');

export const sshUser = z
  .string()
  .trim()
  .min(1, 'SSH user is required.')
  .max(32, 'SSH user is at most 32 characters.')
  .regex(/^[a-z_][a-z0-9_-]*\$?$/, 'A Linux user name: lowercase letters, digits, "_" and "-", not starting with a digit.');

/**
 * A box's pinned host key as a known_hosts line holds it: the key type (e.g. "ssh-ed25519", "ecdsa-sha2-nistp256",
 * "sk-ssh-ed25519@openssh.com") and the base64 key blob. The shapes leave no room for a space or a line break, so a
 * value can never add a line or a host pattern to the file it is written to.
 */
export const pinnedHostKey = z.object({
  algorithm: z.string().regex(/^[a-z0-9][a-z0-9.@-]{2,63}$/, 'A host key type looks like "ssh-ed25519".'),
  blob: z
    .string()
    .max(8192, 'A host key is at most 8192 base64 characters.')
    .regex(/^(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/, 'A host key is base64 (A-Z, a-z, 0-9, "+", "/", "=" padding).'),
});
export type PinnedHostKey = z.infer<typeof pinnedHostKey>;

export const tag = z
  .string()
  .trim()
  .min(1)
  .max(32, 'A tag is at most 32 characters.')
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'Tags use lowercase letters, digits, ".", "_" and "-".');

/** A Boxyard group's name; a provider's group names (Okta, Entra ID, Keycloak paths) are kept as they come. */
export const groupName = z.string().trim().min(1, 'A group needs a name.').max(200, 'A group name is at most 200 characters.');

export const saveGroupInput = z.object({
  id: recordId,
  boxIds: z.array(recordId).max(500, 'At most 500 boxes per group.'),
  tags: z.array(tag).max(50, 'At most 50 tags per group.'),
  memberIds: z.array(recordId).max(2000, 'At most 2000 members per group.'),
});

export const boxAuth = z.discriminatedUnion('method', [
  z.object({ method: z.literal('dashboard-key') }),
  z.object({
    method: z.literal('private-key'),
    privateKey: z.string().min(1, 'Paste the private key.').max(16_384, 'That key is too long.'),
    passphrase: z.string().max(1024).optional(),
  }),
  z.object({ method: z.literal('password'), password: z.string().min(1, 'Enter the password.').max(1024) }),
]);

export const boxFields = z.object({
  name: boxName,
  host: hostAddress,
  port: sshPort.default(22),
  sshUser,
  tags: z.array(tag).max(20, 'At most 20 tags.').default([]),
  notes: z.string().max(2000, 'Notes are at most 2000 characters.').default(''),
  ownerId: recordId.optional(),
  memberIds: z.array(recordId).max(200, 'At most 200 members.').default([]),
});

export const createBoxInput = boxFields.extend({ auth: boxAuth });
export type CreateBoxInput = z.input<typeof createBoxInput>;

/** On update, only the fields given change; credentials are replaced only when `auth` is given; secrets are never sent back. */
export const updateBoxInput = patchOf(boxFields).extend({ id: recordId, auth: boxAuth.optional() });

export const email = z.email('Enter an email address.').max(254);
export const password = z.string().min(10, 'Passwords have at least 10 characters.').max(256);
export const displayName = z.string().trim().min(1, 'Name is required.').max(100, 'A name is at most 100 characters.');
/**
 * The user fields better-auth's own routes write (update-user, and any later one): the caps users.create has. Boxyard
 * shows no pictures; an image, if a client sends one, is a short URL.
 */
export const authUserFields = z
  .object({ name: displayName, email, image: z.string().max(2048, 'An image is a URL of at most 2048 characters.').nullable() })
  .partial();

export const boxStatuses = ['unknown', 'online', 'unreachable', 'auth-failed', 'host-key-mismatch'] as const;
export type BoxStatus = (typeof boxStatuses)[number];

/** Hypervisors Boxyard drives on a host (server/hypervisors has one driver per kind). */
export const hypervisorKinds = ['libvirt', 'parallels', 'utm', 'ssh'] as const;
export type HypervisorKind = (typeof hypervisorKinds)[number];

/** A hypervisor host: the same SSH address and credential rules as a box. */
export const createHostInput = z.object({
  name: boxName,
  kind: z.enum(hypervisorKinds, 'Choose libvirt, parallels, utm or ssh.'),
  host: hostAddress,
  port: sshPort.default(22),
  sshUser,
  auth: boxAuth,
});
export type CreateHostInput = z.input<typeof createHostInput>;

/**
 * A folder of a hypervisor host that box owners may share into their VMs: an absolute path whose parts may use the
 * globs `*` and `?`, each within one part (`*` stands for any one folder name); the folder and everything under it
 * may be shared.
 */
export const shareRoot = z
  .string()
  .trim()
  .max(1024)
  .regex(/^\/[^\0\n\r]*$/, 'A shared-folder root is an absolute path on the host (starts with /), e.g. /Users/*/src.')
  .refine((root) => !root.split('/').some((part) => part === '..' || part === '.'), 'A shared-folder root may not contain "." or ".." parts.')
  .refine((root) => !/[[\]{}\\]/.test(root), 'A shared-folder root takes only * and ? as globs (no [], {} or backslashes).');
export const setShareRootsInput = idInput.extend({ roots: z.array(shareRoot).max(64) });

/** Mount consistency (server/mounts): the modes of Docker's proposal and the transports Boxyard compiles them to. */
export const mountModes = ['consistent', 'cached', 'delegated'] as const;
export type MountMode = (typeof mountModes)[number];
export const mountTransports = ['9p', 'virtiofs', 'parallels', 'nfs', 'sshfs', 'mutagen'] as const;
export type MountTransport = (typeof mountTransports)[number];
export const mountOverrideSpec = z.object({
  subPath: z.string().trim().min(1, 'Name a subdirectory of the mount.').max(512),
  mode: z.enum(mountModes, 'Choose consistent, cached or delegated.'),
});
export const mountSpec = z.object({
  hostPath: z.string().trim().min(1, 'The host path is required.').max(1024),
  guestPath: z.string().trim().min(1, 'The guest path is required.').max(1024),
  transport: z.enum(mountTransports, 'Choose 9p, virtiofs, parallels, nfs, sshfs or mutagen.'),
  mode: z.enum(mountModes, 'Choose consistent, cached or delegated.').default('consistent'),
  readOnly: z.boolean().default(false),
  overrides: z.array(mountOverrideSpec).max(32, 'At most 32 overrides per mount.').default([]),
});
