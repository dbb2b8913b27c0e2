import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { SessionUser } from '../boxes/access';
import type { AccessWatch } from '../boxes/access-watch';
import type { BoxRemote } from '../boxes/remote';
import { recordAudit } from '../audit/audit';
import type { Db } from '../db/client';
import { isAppError } from '../errors';
import { logger } from '../log';
import { isChannelOpenError } from '../ssh/errors';
import type { OpenChannel } from '../ssh/pool';
import type { WakeBoxFn } from '../tunnels/service';
import { checkGrant, previewNotFound } from './access';
import { requestHeadersForApp, responseHeadersForBrowser, type Forwarding } from './headers';
import { failedPage, nobodyListensPage, sendPreviewPage, timeoutPage, tooLargePage, wakingPage, type PreviewPage } from './pages';
import { PreviewCookies, type PreviewGrant } from './tickets';

const log = logger.child({ module: 'previews' });

export interface PreviewServiceOptions {
  db: Db;
  remote: Pick<BoxRemote, 'openTunnel'>;
  wakeBox: WakeBoxFn;
  access: AccessWatch;
  maxBodyBytes: number;
  /** Until the app starts answering a request. */
  timeoutMs: number;
  /** Channels (kept-alive HTTP connections) one box's port may hold at once: the box's channel cap is shared. */
  maxConnectionsPerPort?: number;
  /** Signs preview cookies and public links (derived from the dashboard's secret). */
  key: string;
}

/** A box's port, with the box's name for the pages. */
export interface PreviewBox {
  id: string;
  name: string;
  port: number;
}

/** One request to proxy: who asks (already checked once), to where, and what the app is told about it. */
export interface PreviewExchange {
  grant: PreviewGrant;
  box: PreviewBox;
  /** The path and query the app gets. */
  path: string;
  forwarding: Forwarding;
  /** Extra headers on the browser's response (the path form's CSP sandbox). */
  responseHeaders?: Record<string, string>;
}

/** A kept-alive HTTP connection left unused this long is closed, freeing its SSH channel slot. */
const IDLE_CONNECTION_MS = 5_000;
/** A grant checked this recently is not asked about again for a plain request (open ones are watched anyway). */
const GRANT_CACHE_MS = 1_000;
const WAKE_CHECK_CACHE_MS = 2_000;
/** Methods whose request, without a body, may be sent again when a kept-alive channel fails before any answer. */
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * An ssh2 channel used as the socket of Node's HTTP client: it is a Duplex already; the socket-only calls the client
 * and its Agent make (timeouts, keep-alive, ref) have nothing to do on a channel.
 */
function channelAsSocket(opened: OpenChannel): Duplex {
  const noop = function (this: unknown) {
    return this;
  };
  return Object.assign(opened.channel, { setTimeout: noop, setNoDelay: noop, setKeepAlive: noop, ref: noop, unref: noop });
}

/** Node's `createConnection` contract (the socket through the callback) over a channel being opened. */
function channelConnection(openChannel: () => Promise<OpenChannel>, callback?: (err: Error | null, stream: Duplex) => void): undefined {
  openChannel().then(
    (opened) => callback?.(null, channelAsSocket(opened)),
    (error: Error) => callback?.(error, undefined as unknown as Duplex),
  );
  return undefined;
}

/** The part of Node's Agent that starts a connection for a queued request when one goes (untyped in @types/node). */
interface AgentQueue {
  removeSocket(socket: Pick<Duplex, 'writable'>, options: http.ClientRequestArgs): void;
}

/**
 * Node's HTTP Agent whose connections are forwarded channels to one box's port, kept alive for a few seconds. A
 * channel the app ended while it sat free is dropped at once: ssh2 keeps an ended channel open (half-open) until the
 * box's CLOSE arrives, and the Agent, which only watches 'close', would hand it to the next request.
 *
 * Node's Agent counts a connection only once it exists, and a channel takes a round trip to open: without counting
 * the ones being opened, 200 requests at once opened a channel each (up to the box's cap, the rest queued in the
 * pool behind the sampler and terminals, some past the request timeout) instead of waiting for one of 4.
 */
class ChannelAgent extends http.Agent {
  private readonly idle = new WeakMap<Duplex, { timer: NodeJS.Timeout; onEnd: () => void }>();
  private opening = 0;

  constructor(
    private readonly openChannel: () => Promise<OpenChannel>,
    maxChannels: number,
  ) {
    super({ keepAlive: true, maxSockets: maxChannels, maxFreeSockets: maxChannels });
    // The Agent compares its open connections with maxSockets wherever it decides to open one.
    Object.defineProperty(this, 'maxSockets', { get: () => Math.max(0, maxChannels - this.opening) });
  }

  override createConnection(options: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | undefined {
    this.opening++;
    return channelConnection(this.openChannel, (error, stream) => {
      this.opening--;
      callback?.(error, stream);
      // A request queued behind this open would wait for a connection to go: the Agent starts one for it now.
      if (error) (this as unknown as AgentQueue).removeSocket({ writable: false }, options);
    });
  }

  override keepSocketAlive(socket: Duplex): boolean {
    if (socket.readableEnded || socket.destroyed) return false;
    const onEnd = () => socket.destroy();
    socket.once('end', onEnd);
    this.idle.set(socket, { timer: setTimeout(() => socket.destroy(), IDLE_CONNECTION_MS).unref(), onEnd });
    return true;
  }

  override reuseSocket(socket: Duplex, request: http.ClientRequest): void {
    const idle = this.idle.get(socket);
    if (idle) {
      clearTimeout(idle.timer);
      socket.off('end', idle.onEnd);
    }
    super.reuseSocket(socket as never, request);
  }
}

interface OpenPreviewSocket {
  box: PreviewBox;
  close: () => void;
}

/**
 * Previews: a box's port opened in the browser through the dashboard. Each HTTP request goes to the app over a
 * forwarded channel of the box's pooled SSH connection (kept alive per port by ChannelAgent), streamed both ways;
 * each WebSocket upgrade gets a channel of its own, watched by the AccessWatch and closed when access goes or a
 * share is revoked. A sleeping box is woken (the page says so while it wakes).
 */
export class PreviewService {
  private readonly agents = new Map<string, ChannelAgent>();
  private readonly sockets = new Set<OpenPreviewSocket>();
  private readonly checkedGrants = new Map<string, number>();
  private readonly awake = new Map<string, number>();
  private readonly waking = new Map<string, { state: string }>();
  /** A wake that failed while its waking page was reloading: the next request gets its reason (once), not a new wake. */
  private readonly failedWakes = new Map<string, PreviewPage>();
  private running = false;
  readonly cookies: PreviewCookies;

  constructor(private readonly options: PreviewServiceOptions) {
    this.cookies = new PreviewCookies(options.key);
  }

  start(): void {
    this.running = true;
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const socket of this.sockets) socket.close();
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }

  get openSockets(): number {
    return this.sockets.size;
  }

  /** For /metrics: preview WebSockets open, and kept-alive channel agents (one per box port in use). */
  stats(): { sockets: number; agents: number } {
    return { sockets: this.sockets.size, agents: this.agents.size };
  }

  /** Forgets which grants were checked lately: after a share changes, the next request asks again. */
  forgetChecks(): void {
    this.checkedGrants.clear();
  }

  /** Throws the preview "not found" (or signed-out) AppError unless the grant still reaches its port. */
  async check(grant: PreviewGrant): Promise<void> {
    const key = JSON.stringify(grant);
    const at = this.checkedGrants.get(key);
    if (at !== undefined && Date.now() - at < GRANT_CACHE_MS) return;
    await checkGrant(this.options.db, grant);
    if (this.checkedGrants.size > 10_000) this.checkedGrants.clear();
    this.checkedGrants.set(key, Date.now());
  }

  /** Audited once per exchange (not per request): who opened which port, and how. */
  async audited(actor: SessionUser | null, box: PreviewBox, detail: Record<string, unknown>): Promise<void> {
    await recordAudit(this.options.db, {
      actor: actor ?? { id: null, email: 'public link' },
      action: 'preview.open',
      box: { id: box.id, name: box.name },
      detail: { port: box.port, ...detail },
      result: 'ok',
    });
  }

  async proxyRequest(exchange: PreviewExchange, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { box, grant } = exchange;
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > this.options.maxBodyBytes) return sendPreviewPage(res, tooLargePage(this.options.maxBodyBytes));
    const waking = await this.wakeIfAsleep(box, grant);
    if (waking) return sendPreviewPage(res, waking);

    // A request with a body gets a channel of its own: sent on a kept-alive channel that turns out dead, its body
    // (streamed, not kept) could not be sent again. One without a body may be retried once on a fresh channel.
    const hasBody = length > 0 || req.headers['transfer-encoding'] !== undefined;
    const retryable = !hasBody && IDEMPOTENT_METHODS.has(req.method ?? '');
    const requestOptions: http.RequestOptions = {
      method: req.method,
      path: exchange.path,
      headers: requestHeadersForApp(req.headers, exchange.forwarding, { upgrade: false }),
    };
    let upstream: http.ClientRequest;
    const unwatch = this.options.access.watch(() => checkGrant(this.options.db, grant), () => {
      upstream.destroy();
      res.destroy();
    });
    const answered = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.fail(res, timeoutPage(box.name, box.port, this.options.timeoutMs));
        upstream.destroy();
      }, this.options.timeoutMs);
      const done = () => {
        clearTimeout(timer);
        unwatch();
        resolve();
      };
      res.once('close', () => {
        upstream.destroy();
        done();
      });
      const send = (mayRetry: boolean) => {
        upstream = http.request(
          hasBody
            ? { ...requestOptions, createConnection: (_options, callback) => channelConnection(() => this.openChannel(box), callback) }
            : { ...requestOptions, agent: this.agentFor(box) },
        );
        upstream.once('response', (answer) => {
          clearTimeout(timer);
          res.writeHead(answer.statusCode ?? 502, answer.statusMessage, { ...responseHeadersForBrowser(answer.rawHeaders, exchange.forwarding), ...exchange.responseHeaders });
          relayBody(answer, res);
          answer.once('error', () => res.destroy());
        });
        let failed = false;
        // `on`, not `once`: a request still waiting for its channel can fail twice (destroyed, then the open fails).
        upstream.on('error', (error) => {
          if (failed) return;
          failed = true;
          // A kept-alive channel the app had closed, its end not yet seen: the request goes again on a new channel.
          if (mayRetry && upstream.reusedSocket && !res.headersSent && !res.destroyed) return send(false);
          done();
          if (isChannelOpenError(error, 'forward-failed')) this.fail(res, nobodyListensPage(box.name, box.port));
          else if (isAppError(error) && error.code !== 'INTERNAL') this.fail(res, failedPage(error.message));
          else if (!res.headersSent) {
            log.warn({ err: error.message, box: box.name, port: box.port }, 'preview request failed');
            this.fail(res, failedPage(`The connection to the app on port ${box.port} of ${box.name} failed (${error.message}); reload to try again.`));
          } else res.destroy();
        });
        if (!hasBody) upstream.end();
      };
      send(retryable);
    });
    if (hasBody) {
      let received = 0;
      req.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > this.options.maxBodyBytes) {
          upstream.destroy();
          req.unpipe(upstream);
          this.fail(res, tooLargePage(this.options.maxBodyBytes));
        }
      });
      req.pipe(upstream!);
    }
    await answered;
  }

  /** A WebSocket (or other) upgrade: its own channel, the app's 101 relayed, then bytes both ways until either ends. */
  async proxyUpgrade(exchange: PreviewExchange, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const { box, grant } = exchange;
    socket.on('error', () => socket.destroy());
    if (!this.running) return void socket.destroy();
    const waking = await this.wakeIfAsleep(box, grant);
    if (waking) return rawAnswer(socket, waking);
    let opened: OpenChannel;
    try {
      opened = await this.openChannel(box);
    } catch (error) {
      return rawAnswer(socket, isChannelOpenError(error, 'forward-failed') ? nobodyListensPage(box.name, box.port) : failedPage(isAppError(error) ? error.message : 'The app could not be reached.'));
    }
    const channel = channelAsSocket(opened);
    const entry: OpenPreviewSocket = {
      box,
      close: () => {
        socket.destroy();
        opened.close();
      },
    };
    this.sockets.add(entry);
    const unwatch = this.options.access.watch(() => checkGrant(this.options.db, grant), () => entry.close());
    const finished = () => {
      this.sockets.delete(entry);
      unwatch();
      entry.close();
    };
    socket.once('close', finished);
    channel.once('close', finished);

    const upstream = http.request({
      createConnection: () => channel,
      method: req.method,
      path: exchange.path,
      headers: requestHeadersForApp(req.headers, exchange.forwarding, { upgrade: true }),
    });
    upstream.once('upgrade', (answer, appSocket, appHead) => {
      socket.write(statusHead(answer, exchange));
      if (appHead.length) socket.write(appHead);
      if (head.length) appSocket.write(head);
      appSocket.pipe(socket);
      socket.pipe(appSocket);
    });
    upstream.once('response', (answer) => {
      // The app refused the upgrade: its answer goes back as it is, and the connection ends after it.
      socket.write(statusHead(answer, exchange));
      answer.pipe(socket);
    });
    upstream.once('error', () => socket.destroy());
    upstream.end();
  }

  private openChannel(box: PreviewBox): Promise<OpenChannel> {
    return this.options.remote.openTunnel(box.id, box.port, { timeoutMs: this.options.timeoutMs });
  }

  private agentFor(box: PreviewBox): ChannelAgent {
    const key = `${box.id}:${box.port}`;
    let agent = this.agents.get(key);
    if (!agent) {
      agent = new ChannelAgent(() => this.openChannel(box), this.options.maxConnectionsPerPort ?? 4);
      this.agents.set(key, agent);
    }
    return agent;
  }

  /**
   * Null when the box is awake (checked at most every 2 s); otherwise starts waking it (once) and returns the page
   * that says so. The wake runs on in the background; the page reloads until it is done, or says why it failed.
   */
  private async wakeIfAsleep(box: PreviewBox, grant: PreviewGrant): Promise<PreviewPage | null> {
    const inProgress = this.waking.get(box.id);
    if (inProgress) return wakingPage(box.name, inProgress.state);
    const failed = this.failedWakes.get(box.id);
    if (failed) {
      this.failedWakes.delete(box.id);
      return failed;
    }
    const checkedAt = this.awake.get(box.id);
    if (checkedAt !== undefined && Date.now() - checkedAt < WAKE_CHECK_CACHE_MS) return null;
    const actor = await this.wakeActor(grant);
    return new Promise<PreviewPage | null>((resolve) => {
      const wake = this.options.wakeBox(box.id, actor, (state) => {
        this.waking.set(box.id, { state });
        resolve(wakingPage(box.name, state));
      });
      wake.then(
        () => {
          this.awake.set(box.id, Date.now());
          resolve(null);
        },
        (error: unknown) => {
          log.warn({ err: error, box: box.name }, 'could not wake a box for a preview');
          const page = failedPage(isAppError(error) && error.code !== 'INTERNAL' ? error.message : `Could not wake ${box.name}.`);
          // Said already if the wake failed before it reported waking; otherwise the reloading page gets it next.
          if (this.waking.has(box.id)) this.failedWakes.set(box.id, page);
          resolve(page);
        },
      ).finally(() => this.waking.delete(box.id));
    });
  }

  /** Who the wake job is done for: the viewer, or for a public link the share's creator. */
  private async wakeActor(grant: PreviewGrant): Promise<SessionUser> {
    const share = grant.userId ? null : await this.options.db.portShare.findUnique({ where: { boxId_port: { boxId: grant.boxId, port: grant.port } } });
    const user = await this.options.db.user.findUnique({ where: { id: grant.userId ?? share?.createdById ?? '' } });
    if (!user) throw previewNotFound();
    return { id: user.id, email: user.email, name: user.name, role: user.role === 'admin' ? 'admin' : 'developer' };
  }

  private fail(res: ServerResponse, page: PreviewPage): void {
    if (res.headersSent) res.destroy();
    else sendPreviewPage(res, page);
  }
}

/** What the browser's socket may hold unsent before the app's body waits (Node's default is 16 KiB, half a packet). */
const RELAY_BUFFER_BYTES = 1024 * 1024;

/**
 * The app's body to the browser. Not `pipe`: with Node's 16 KiB high-water mark every 32 KiB SSH packet would stop
 * and restart the body (and the channel under it) once.
 */
function relayBody(answer: IncomingMessage, res: ServerResponse): void {
  const resume = () => answer.resume();
  answer.on('data', (chunk: Buffer) => {
    res.write(chunk);
    if (res.writableLength > RELAY_BUFFER_BYTES) {
      answer.pause();
      res.once('drain', resume);
    }
  });
  answer.once('end', () => res.end());
}

/** The status line and headers of the app's answer to an upgrade, as raw HTTP/1.1 for the browser's socket. */
function statusHead(answer: IncomingMessage, exchange: PreviewExchange): string {
  const headers = { ...responseHeadersForBrowser(answer.rawHeaders, exchange.forwarding) };
  if (answer.statusCode === 101) {
    headers.connection = 'Upgrade';
    headers.upgrade = answer.headers.upgrade;
  } else headers.connection = 'close';
  const lines = Object.entries(headers).flatMap(([name, value]) => (Array.isArray(value) ? value : [value]).map((one) => `${name}: ${String(one)}`));
  return `HTTP/1.1 ${answer.statusCode} ${answer.statusMessage ?? ''}\r\n${lines.join('\r\n')}\r\n\r\n`;
}

/** A page as the whole answer to an upgrade request (nothing was upgraded). */
function rawAnswer(socket: Duplex, page: PreviewPage): void {
  const body = `${page.title}: ${page.sentence}`;
  socket.end(`HTTP/1.1 ${page.status} ${http.STATUS_CODES[page.status]}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

