/**
 * Terminal session ids are made by the browser and kept in page URLs, so a reload re-attaches. An id made by
 * this page load (and not yet seen by the server) connects with mode=new; any other id, such as one read back
 * from the URL after a reload, connects with mode=attach so a session that is gone is reported as ended instead
 * of silently becoming a fresh shell.
 */

const fresh = new Set<string>();

/** crypto.randomUUID exists only in secure contexts; boxes are often reached over plain http on a LAN. */
function randomUuid(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function createSessionId(): string {
  const id = randomUuid();
  fresh.add(id);
  return id;
}

export function connectModeFor(id: string): 'new' | 'attach' {
  return fresh.has(id) ? 'new' : 'attach';
}

/** The server has answered for this id, so the session exists (or existed): from now on only attach. */
export function markKnownToServer(id: string): void {
  fresh.delete(id);
}
