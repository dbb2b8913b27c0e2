import { connect } from 'node:net';

/**
 * True when an SSH server answers on host:port with its banner within timeoutMs. A bare TCP accept is not enough:
 * QEMU's user networking accepts forwarded connections before the guest listens, and so does docker-proxy for a
 * container whose sshd is down.
 */
export function sshBanner(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let seen = '';
    const done = (answer: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('data', (chunk) => {
      seen += chunk.toString('latin1');
      if (seen.startsWith('SSH-')) done(true);
      else if (seen.length >= 4) done(false);
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}
