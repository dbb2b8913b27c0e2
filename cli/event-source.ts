/**
 * A server-sent events client on fetch, for tRPC's httpSubscriptionLink (live job logs): Node 20 has no EventSource,
 * and no EventSource sends an Authorization header, which the CLI's API token needs. Only what the link uses: the
 * `message` and named events with their data and last event id, `error`, readyState and close(). It never reconnects
 * by itself: a lost stream ends CLOSED with an `error` event, and the caller decides.
 */
export class FetchEventSource extends EventTarget {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSED = 2;
  readyState = 0;
  private readonly aborter = new AbortController();

  constructor(
    readonly url: string,
    init: { headers?: Record<string, string> } = {},
  ) {
    super();
    void this.read(init.headers ?? {});
  }

  close(): void {
    this.readyState = this.CLOSED;
    this.aborter.abort();
  }

  private async read(headers: Record<string, string>): Promise<void> {
    try {
      const response = await fetch(this.url, { headers: { accept: 'text/event-stream', ...headers }, signal: this.aborter.signal });
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      this.readyState = this.OPEN;
      this.dispatchEvent(new Event('open'));
      let pending = '';
      let type = 'message';
      let data: string[] = [];
      let lastEventId = '';
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (let read = await reader.read(); !read.done; read = await reader.read()) {
        const chunk = read.value;
        const lines = (pending + chunk).split('\n');
        pending = lines.pop()!;
        // https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
        for (const raw of lines) {
          const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
          if (line === '') {
            if (data.length) this.dispatchEvent(new MessageEvent(type, { data: data.join('\n'), lastEventId }));
            type = 'message';
            data = [];
            continue;
          }
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') type = value;
          else if (field === 'data') data.push(value);
          else if (field === 'id' && !value.includes('\0')) lastEventId = value;
        }
      }
    } catch {
      // Below: a failed or lost stream is an `error` event, as with a browser's EventSource.
    }
    if (this.readyState === this.CLOSED) return; // closed by its owner
    this.readyState = this.CLOSED;
    this.dispatchEvent(new Event('error'));
  }
}
