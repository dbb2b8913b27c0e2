// Test support for previews: a tiny HTTP app with a WebSocket echo run on a lab box (the lab image's perl-base: no Digest::SHA, so sha1sum and a pack('u') base64),
// and a raw HTTP client that sends any Host header (fetch may not), for the subdomain form on 127.0.0.1.
import http from 'node:http';
import { WebSocket } from 'ws';
import { PreviewService } from '../../server/previews/service';
import type { WakeBoxFn } from '../../server/tunnels/service';
import type { LabBox } from '../lab/lab';
import type { Backend } from './terminals';
import { until } from './wait';

/**
 * The app: every request is answered 200 with its own request head and body as text (so a test sees what the app
 * was sent), `Set-Cookie: app=1` with a Domain that a preview must drop; a WebSocket upgrade gets an echo of every
 * frame (up to 64 KiB); `GET /big` answers 10 MiB (bench/preview). One process per connection, keep-alive, except that after answering `/close` it closes the
 * connection without having said so (as an app's idle timeout does): the proxy's kept-alive channel is dead.
 */
const APP = String.raw`
use IO::Socket::INET;
sub b64 { my $u=pack('u',$_[0]); $u=~s/^.//mg; $u=~s/\n//g; $u=~tr|\x60 -_|AA-Za-z0-9+/|; my $pad=(3-length($_[0])%3)%3; substr($u,-$pad)='=' x $pad if $pad; $u }
$SIG{CHLD}='IGNORE';
my $s=IO::Socket::INET->new(LocalAddr=>"127.0.0.1:PORT",Listen=>64,ReuseAddr=>1) or die $!;
while (1) { my $c=$s->accept or next; if (fork) { close $c; next } close $s; binmode $c;
  while (1) {
    my $head=''; while (defined(my $l=<$c>)) { $head.=$l; last if $l eq "\r\n" } exit unless $head;
    if ($head =~ /^Sec-WebSocket-Key: *(\S+)/mi) {
      my $in=$1.'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'; my $hex=qx{printf %s '$in' | sha1sum}; my $a=b64(pack('H40',$hex));
      print $c "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: $a\r\n\r\n";
      while (read($c,my $h,2)==2) { my ($b1,$b2)=unpack("CC",$h); my $len=$b2&127;
        if ($len==126) { read($c,my $x,2); $len=unpack("n",$x) }
        read($c,my $mask,4); my $p=''; read($c,$p,$len) if $len; $p ^= substr($mask x (int($len/4)+1),0,$len);
        exit if ($b1&15)==8;
        print $c pack("CC",$b1,$len<126?$len:126).($len<126?"":pack("n",$len)).$p; }
      exit }
    my ($len)=$head=~/^Content-Length: *(\d+)/mi; my $body=''; read($c,$body,$len) if $len;
    if ($head =~ m{^GET /slow}) { sleep 30 }
    if ($head =~ m{^GET /big}) { my $chunk='x' x 65536; print $c "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ".(160*65536)."\r\n\r\n"; print $c $chunk for 1..160; next }
    my $out=$head.$body;
    print $c "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: app=1; Domain=preview.localhost; Path=/\r\nContent-Length: ".length($out)."\r\n\r\n".$out;
    exit if $head =~ m{^\S+ /close};
  }
}`;

/** Starts the app on the box's 127.0.0.1:port as dev, in the background; resolves once it listens. */
export async function startPreviewApp(lab: LabBox, port: number): Promise<void> {
  const file = `/tmp/preview-app-${port}.pl`;
  const script = Buffer.from(APP.replace('PORT', String(port))).toString('base64');
  const ran = await lab.root(`echo ${script} | base64 -d >${file} && su dev -c 'setsid perl ${file} >${file}.log 2>&1 </dev/null &'`);
  if (ran.code !== 0) throw new Error(`could not start the preview app: ${ran.stderr}`);
  await until(async () => (await lab.root(`ss -ltn 'sport = :${port}' | grep -c LISTEN`)).stdout.trim() === '1', `the preview app on port ${port}`, 10_000);
}

export async function stopPreviewApp(lab: LabBox, port: number): Promise<void> {
  await lab.root(`pkill -f /tmp/preview-app-${port}.pl; true`);
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP request to the dashboard at `base` (http://127.0.0.1:port) with any headers, Host included. */
export function rawRequest(base: string, path: string, options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<RawResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path, method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A WebSocket to a preview (Host and cookie as a browser on that origin sends them). */
export function previewSocket(base: string, path: string, headers: Record<string, string>): WebSocket {
  const url = new URL(base);
  return new WebSocket(`ws://${url.host}${path}`, { headers, perMessageDeflate: false });
}

/**
 * One more listener on `backend`'s services with a preview service of its own whose wake step is `wakeBox` (a box
 * that "sleeps" without a VM: the WakeBoxFn seam the tunnel tests use too). Resolves with its http:// base URL and
 * that service, which the test stops.
 */
export async function listenWithPreviewWake(backend: Backend, wakeBox: WakeBoxFn): Promise<{ url: string; previews: PreviewService }> {
  const { db, remote, access, env, secrets } = backend.services;
  const previews = new PreviewService({ db, remote, access, wakeBox, maxBodyBytes: env.PREVIEW_MAX_BODY_BYTES, timeoutMs: env.PREVIEW_TIMEOUT_MS, key: secrets.derive('preview-cookies') });
  previews.start();
  const url = await backend.listen({ ...backend.services, previews });
  return { url: url.replace('ws://', 'http://'), previews };
}
