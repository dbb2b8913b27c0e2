import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { WebSocket } from 'ws';
import { TUNNEL_PATH, tunnelCloseCodes, tunnelLimits, type TunnelServerMessage } from '../lib/tunnel-protocol';

/**
 * `boxyard proxy NAME`: an ssh ProxyCommand. It opens the dashboard's tunnel WebSocket to port 22 (or `port`) of the
 * box and copies stdin to it and it to stdout, so ssh (and everything that runs ssh: scp, rsync, git, docker, editors)
 * reaches the box through the dashboard, with no route from the laptop to the box. A sleeping box is woken first,
 * with progress on stderr. Resolves with the exit code: 0 when the stream ended, 1 with one sentence on stderr when
 * the dashboard refused or lost the tunnel.
 */

/** How to run this very CLI again, the way it runs now (node, its loader flags under tsx, the script): a ProxyCommand's. */
export function thisCliCommand(): string[] {
  return [process.execPath, ...process.execArgv, path.resolve(process.argv[1]!)];
}

export interface ProxyOptions {
  /** The dashboard, e.g. https://boxyard.example.com */
  url: string;
  token: string;
  /** The box's name (or id). */
  box: string;
  port?: number;
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

/** The tunnel's WebSocket URL on the dashboard at `url`; null when `url` is not an http(s) URL. */
export function tunnelUrl(url: string, box: string, port: number): URL | null {
  let base: URL;
  try {
    base = new URL(url.endsWith('/') ? url : `${url}/`);
  } catch {
    return null;
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') return null;
  const endpoint = new URL(TUNNEL_PATH.slice(1), base);
  endpoint.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
  endpoint.search = new URLSearchParams({ box, port: String(port) }).toString();
  return endpoint;
}

/**
 * Client frames are masked (RFC 6455 §5.3) so that a script in a browser cannot make bytes that an intermediary
 * between it and the server would take for HTTP (§10.3). Over TLS or loopback no intermediary sees the frames, and
 * this client is no browser: a zero mask there lets both ends skip XOR-ing every byte (ws does, on both sides).
 */
function unseenByIntermediaries(endpoint: URL): boolean {
  return endpoint.protocol === 'wss:' || ['localhost', '127.0.0.1', '[::1]'].includes(endpoint.hostname);
}

const zeroMask = (mask: Buffer) => mask.fill(0);

/** What the user reads when the tunnel closed with `code` before or while it carried the stream. */
function closeSentence(code: number, reason: string, box: string): string {
  if (reason) return reason;
  if (code === 1006) return `the connection to the dashboard was lost (tunnel to ${box})`;
  return `the dashboard closed the tunnel to ${box} (code ${code})`;
}

/** Told about a sleeping box being woken before a tunnel's stream opens; each tunnel calls `waking` at most once. */
export interface WakingProgress {
  waking(state: string): void;
  /** The stream opened, `seconds` after `waking`. */
  ready(seconds: number): void;
  /** The tunnel closed before the box was awake. */
  gaveUp(): void;
}

/** Progress on `stderr` as one line: "waking NAME (suspended)... ready in 1.2 s". */
export function wakingLine(stderr: Writable, box: string): WakingProgress {
  return {
    waking: (state) => stderr.write(`waking ${box} (${state})...`),
    ready: (seconds) => stderr.write(` ready in ${seconds.toFixed(1)} s\n`),
    gaveUp: () => stderr.write('\n'),
  };
}

export interface TunnelStream {
  /** The tunnel's WebSocket URL (tunnelUrl). */
  endpoint: URL;
  token: string;
  /** The box's name, for the sentences. */
  box: string;
  /** Its bytes go to the box; when it ends or closes, the tunnel closes. */
  input: Readable;
  /** The box's bytes, written with backpressure on the tunnel. */
  output: Writable;
  progress: WakingProgress;
}

/**
 * Carries one TCP stream through one tunnel WebSocket: `input` to the box, the box to `output`, each side held back
 * while the other does not drain (the WebSocket's buffer above the high-water mark pauses `input`; a full `output`
 * pauses the WebSocket). Resolves when the tunnel closed, with null when the stream ended (either side; everything
 * the box sent is written to `output` first), or with the sentence that says why the dashboard refused or lost it.
 */
export function carryTunnel(options: TunnelStream): Promise<string | null> {
  const { endpoint, box, input, output, progress } = options;
  return new Promise((resolve) => {
    const ws = new WebSocket(endpoint, {
      headers: { authorization: `Bearer ${options.token}` },
      perMessageDeflate: false,
      maxPayload: tunnelLimits.maxFrameBytes,
      ...(unseenByIntermediaries(endpoint) ? { generateMask: zeroMask } : {}),
    });
    let ready = false;
    let wakingSince: number | null = null;
    let failure: string | null = null;
    /** This side ended the stream: whatever the tunnel says after is no failure. */
    let inputEnded = false;
    let settled = false;
    const finish = (result: string | null) => {
      if (settled) return;
      settled = true;
      input.pause();
      resolve(result);
    };

    const endInput = () => {
      if (inputEnded) return;
      inputEnded = true;
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(tunnelCloseCodes.streamEnded);
    };
    input.once('end', endInput);
    input.once('close', endInput);
    // A reset connection ends the stream like a closed one ('close' follows).
    input.on('error', () => {});
    output.on('error', endInput);

    const startStream = () => {
      ready = true;
      if (wakingSince !== null) progress.ready((performance.now() - wakingSince) / 1000);
      input.on('data', (chunk: Buffer) => {
        ws.send(chunk, { binary: true }, () => {
          if (input.isPaused() && ws.bufferedAmount < tunnelLimits.lowWatermarkBytes) input.resume();
        });
        if (ws.bufferedAmount > tunnelLimits.highWatermarkBytes) input.pause();
      });
      input.resume();
    };

    ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) {
        if (!output.write(data)) {
          ws.pause();
          output.once('drain', () => ws.resume());
        }
        return;
      }
      let message: TunnelServerMessage;
      try {
        message = JSON.parse(data.toString()) as TunnelServerMessage;
      } catch {
        return;
      }
      if (message.type === 'waking') {
        if (wakingSince === null) progress.waking(message.state);
        wakingSince ??= performance.now();
      } else if (message.type === 'ready' && !ready) startStream();
    });
    ws.on('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        finish(`the dashboard refused the tunnel (HTTP ${response.statusCode})${chunks.length ? `: ${Buffer.concat(chunks).toString('utf8').trim()}` : ''}`);
      });
    });
    ws.on('error', (error: Error & { code?: string }) => {
      if (!inputEnded) failure ??= `could not reach the dashboard at ${endpoint.origin}: ${error.code ?? error.message}`;
    });
    ws.on('close', (code, reason) => {
      if (wakingSince !== null && !ready) progress.gaveUp();
      if (!inputEnded && code !== tunnelCloseCodes.streamEnded && code !== 1005) failure ??= closeSentence(code, reason.toString(), box);
      if (failure) return finish(failure);
      // Everything the box sent is written before the stream counts as ended.
      if (output.writableEnded || output.destroyed) return finish(null);
      output.write('', () => finish(null));
    });
  });
}

export async function runProxy(options: ProxyOptions): Promise<number> {
  const { box, stderr } = options;
  const endpoint = tunnelUrl(options.url, box, options.port ?? 22);
  if (!endpoint) {
    stderr.write(`boxyard: --url ${options.url} is not a URL; give the dashboard's address, e.g. https://boxyard.example.com\n`);
    return 2;
  }
  const failure = await carryTunnel({ endpoint, token: options.token, box, input: options.stdin, output: options.stdout, progress: wakingLine(stderr, box) });
  if (failure) stderr.write(`boxyard: ${failure}\n`);
  return failure ? 1 : 0;
}
