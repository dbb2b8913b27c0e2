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

export function runProxy(options: ProxyOptions): Promise<number> {
  const { box, stdin, stdout, stderr } = options;
  const say = (line: string) => stderr.write(`${line}\n`);
  const endpoint = tunnelUrl(options.url, box, options.port ?? 22);
  if (!endpoint) {
    say(`boxyard: --url ${options.url} is not a URL; give the dashboard's address, e.g. https://boxyard.example.com`);
    return Promise.resolve(2);
  }
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
    let settled = false;
    const finish = (code: number) => {
      if (settled) return;
      settled = true;
      stdin.pause();
      if (failure) say(`boxyard: ${failure}`);
      resolve(code);
    };

    const startStream = () => {
      ready = true;
      if (wakingSince !== null) stderr.write(` ready in ${((performance.now() - wakingSince) / 1000).toFixed(1)} s\n`);
      stdin.on('data', (chunk: Buffer) => {
        ws.send(chunk, { binary: true }, () => {
          if (stdin.isPaused() && ws.bufferedAmount < tunnelLimits.lowWatermarkBytes) stdin.resume();
        });
        if (ws.bufferedAmount > tunnelLimits.highWatermarkBytes) stdin.pause();
      });
      // ssh closed its side: the session is over.
      stdin.once('end', () => ws.close(tunnelCloseCodes.streamEnded));
      stdin.resume();
    };

    ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) {
        if (!stdout.write(data)) {
          ws.pause();
          stdout.once('drain', () => ws.resume());
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
        if (wakingSince === null) stderr.write(`waking ${box} (${message.state})...`);
        wakingSince ??= performance.now();
      } else if (message.type === 'ready' && !ready) startStream();
    });
    ws.on('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        failure = `the dashboard refused the tunnel (HTTP ${response.statusCode})${chunks.length ? `: ${Buffer.concat(chunks).toString('utf8').trim()}` : ''}`;
        finish(1);
      });
    });
    ws.on('error', (error: Error & { code?: string }) => {
      failure ??= `could not reach the dashboard at ${endpoint.origin}: ${error.code ?? error.message}`;
      finish(1);
    });
    ws.on('close', (code, reason) => {
      if (wakingSince !== null && !ready) stderr.write('\n');
      if (code !== tunnelCloseCodes.streamEnded && code !== 1005) failure ??= closeSentence(code, reason.toString(), box);
      if (failure) return finish(1);
      // Everything the box sent is written before the process exits.
      stdout.write('', () => finish(0));
    });
  });
}
