// Shared by the terminal integration tests: the backend in-process, an HTTP server with the real API and the
// terminal upgrade handler, signed-in users, and a WebSocket client speaking lib/terminal-protocol.ts.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WebSocket } from 'ws';
import { TERMINAL_PATH, type ClientMessage, type ServerMessage } from '../../lib/terminal-protocol';
import type { LabBox } from '../lab/lab';
import type { SessionUser } from '../../server/boxes/access';
import { createBox } from '../../server/boxes/boxes';
import { loadEnv } from '../../server/env';
import { createEdge } from '../../server/http/edge';
import { startServices, stopServices, type Services } from '../../server/services';
import { createUser } from '../../server/users/users';
import { RingBuffer } from '../../server/terminals/ring-buffer';
import { Wakeups } from './wait';

export interface TestUser {
  user: SessionUser;
  /** `name=value` of the better-auth session cookie. */
  cookie: string;
}

export interface Backend {
  services: Services;
  /** Dashboard origin the browser would send. */
  origin: string;
  admin: TestUser;
  /**
   * Listens with the API and the terminal endpoint served by `services` (or a variant, e.g. another TerminalManager),
   * on `port` when the dashboard's address had to be known before (BOXYARD_URL for a provider's redirect URI).
   */
  listen(served?: Services, port?: number): Promise<string>;
  addUser(email: string, role?: SessionUser['role']): Promise<TestUser>;
  addBox(name: string, box: Pick<LabBox, 'host' | 'port'>, owner: TestUser, members?: TestUser[]): Promise<{ id: string; name: string }>;
  stop(): Promise<void>;
}

const PASSWORD = 'terminal-test-password';

export async function startBackend(env: Record<string, string> = {}): Promise<Backend> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'boxyard-terminals-'));
  const { services } = await startServices(loadEnv({ BOXYARD_DATA_DIR: dataDir, BOXYARD_ADMIN_PASSWORD: PASSWORD, ...env }), { pollStatus: false });
  const servers: Server[] = [];
  const sockets = new Set<Socket>();

  const signIn = async (email: string): Promise<string> => {
    const response = await services.auth.api.signInEmail({ body: { email, password: PASSWORD }, asResponse: true });
    const cookie = response.headers.getSetCookie().find((line) => line.includes('session_token='));
    if (!cookie) throw new Error(`sign-in of ${email} set no session cookie (HTTP ${response.status})`);
    return cookie.split(';')[0]!;
  };
  const adminRow = await services.db.user.findFirstOrThrow({ where: { role: 'admin' } });
  const admin: TestUser = {
    user: { id: adminRow.id, email: adminRow.email, name: adminRow.name, role: 'admin' },
    cookie: await signIn(adminRow.email),
  };

  return {
    services,
    origin: new URL(services.env.publicUrl).origin,
    admin,
    async listen(served = services, port = 0) {
      const edge = createEdge(served);
      const server = createServer((req, res) => {
        if (!edge.handleRequest(req, res)) res.writeHead(404).end();
      });
      server.on('upgrade', (req, socket, head) => {
        if (!edge.handleUpgrade(req, socket, head)) socket.destroy();
      });
      server.on('connection', (socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
      });
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
      return `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    async addUser(email, role = 'developer') {
      const created = await createUser(services.db, { email, name: email.split('@')[0]!, password: PASSWORD, role });
      return { user: { id: created.id, email: created.email, name: created.name, role }, cookie: await signIn(email) };
    },
    async addBox(name, box, owner, members = []) {
      const created = await createBox(services.db, services.secrets, admin.user, {
        name,
        host: box.host,
        port: box.port,
        sshUser: 'dev',
        tags: [],
        notes: '',
        ownerId: owner.user.id,
        memberIds: members.map((member) => member.user.id),
        auth: { method: 'dashboard-key' },
      });
      return { id: created.id, name: created.name };
    },
    async stop() {
      // As the dashboard's shutdown does: stop accepting, then end the sessions (their close codes go out).
      for (const server of servers) server.closeAllConnections(); // the HTTP ones; upgraded sockets are the sessions'
      const closed = Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
      await stopServices(services);
      // An upgraded socket whose client stopped reading never takes its close frame: let go of it after a grace.
      const lingering = setTimeout(() => sockets.forEach((socket) => socket.destroy()), 2_000);
      await closed;
      clearTimeout(lingering);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface OpenOptions {
  cookie?: string;
  origin?: string;
  session?: string;
  container?: string;
  cols?: number;
  rows?: number;
  mode?: 'new' | 'attach';
  /** Ack every output frame once received (a terminal that keeps up). Default true. */
  ack?: boolean;
}

/** Output kept for searching; a flood is counted, not kept whole. */
const KEPT_OUTPUT_BYTES = 1024 * 1024;

/** A browser terminal as the server sees it: one WebSocket, JSON text frames in, binary output out. */
export class TestTerminal {
  readonly session: string;
  readonly ws: WebSocket;
  readonly messages: ServerMessage[] = [];
  /** Output received since this socket opened (its tail past KEPT_OUTPUT_BYTES). */
  readonly output = new RingBuffer(KEPT_OUTPUT_BYTES);
  receivedBytes = 0;
  ackedBytes = 0;
  firstOutputAt: number | null = null;
  readonly openedAt: Promise<number>;
  readonly closed: Promise<{ code: number; reason: string }>;
  /** HTTP status when the server refused the upgrade. */
  readonly refusedStatus: Promise<number>;
  /** The headers of the upgrade's answer (a load balancer's, e.g. which process it chose). */
  readonly upgradeHeaders: Promise<IncomingHttpHeaders>;
  private acking: boolean;
  private readonly arrivals = new Wakeups();

  constructor(baseUrl: string, box: string, options: OpenOptions = {}) {
    this.session = options.session ?? randomUUID();
    this.acking = options.ack ?? true;
    const params = new URLSearchParams({
      session: this.session,
      box,
      cols: String(options.cols ?? 80),
      rows: String(options.rows ?? 24),
      mode: options.mode ?? 'new',
      ...(options.container ? { container: options.container } : {}),
    });
    this.ws = new WebSocket(`${baseUrl}${TERMINAL_PATH}?${params}`, {
      origin: options.origin,
      headers: options.cookie ? { cookie: options.cookie } : {},
    });
    this.openedAt = new Promise((resolve) => this.ws.once('open', () => resolve(performance.now())));
    this.refusedStatus = new Promise((resolve) => this.ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    this.upgradeHeaders = new Promise((resolve) => this.ws.once('upgrade', (res) => resolve(res.headers)));
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.ws.on('error', () => undefined); // a refused upgrade errors; the tests look at refusedStatus/closed
    this.ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) {
        this.firstOutputAt ??= performance.now();
        this.receivedBytes += data.length;
        this.output.write(data);
        if (this.acking) this.ack();
      } else {
        this.messages.push(JSON.parse(data.toString()) as ServerMessage);
      }
      this.arrivals.wake();
    });
  }

  get text(): string {
    return this.output.snapshot().toString('utf8');
  }

  /** Sends now, or as soon as the socket opens (like a browser terminal queueing early keystrokes). */
  send(message: ClientMessage | string): void {
    const frame = typeof message === 'string' ? message : JSON.stringify(message);
    if (this.ws.readyState === WebSocket.CONNECTING) this.ws.once('open', () => this.ws.send(frame));
    else this.ws.send(frame);
  }

  type(text: string): void {
    this.send({ type: 'input', data: text });
  }

  /** Starts acking: everything received so far, then every frame as it comes. */
  startAcking(): void {
    this.acking = true;
    this.ack();
  }

  /** Resolves once `check` holds after some message arrived; rejects with what was seen after `timeoutMs`. */
  until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    return this.arrivals.until(check, timeoutMs, () => `timed out waiting for ${what}; messages ${JSON.stringify(this.messages)}; output tail ${JSON.stringify(this.text.slice(-400))}`);
  }

  untilOutput(pattern: string | RegExp, timeoutMs?: number): Promise<void> {
    const test = typeof pattern === 'string' ? () => this.text.includes(pattern) : () => pattern.test(this.text);
    return this.until(test, `output ${String(pattern)}`, timeoutMs);
  }

  untilMessage<T extends ServerMessage['type']>(type: T, check: (message: Extract<ServerMessage, { type: T }>) => boolean = () => true, timeoutMs?: number) {
    const find = () => this.messages.find((m): m is Extract<ServerMessage, { type: T }> => m.type === type && check(m as Extract<ServerMessage, { type: T }>));
    return this.until(() => find() !== undefined, `a ${type} message`, timeoutMs).then(() => find()!);
  }

  /** Closes the socket without a `close` message: the browser went away (reload, network). */
  async drop(): Promise<void> {
    this.ws.close();
    await this.closed;
  }

  private ack(): void {
    const bytes = this.receivedBytes - this.ackedBytes;
    if (bytes > 0 && this.ws.readyState === WebSocket.OPEN) {
      this.send({ type: 'ack', bytes });
      this.ackedBytes = this.receivedBytes;
    }
  }
}
