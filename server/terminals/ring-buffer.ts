/** Default output history kept per terminal session: enough to repaint a full screen plus some scrollback. */
export const DEFAULT_RING_BUFFER_BYTES = 256 * 1024;
/** Below this a re-attach could not even repaint a large full-screen program (1000 x 1000 cells is more, but rare). */
export const MIN_RING_BUFFER_BYTES = 64 * 1024;

/**
 * Keeps the most recent `capacity` bytes written to it, for replaying a terminal's history on re-attach.
 * Memory is allocated once and never grows, however much is written.
 */
export class RingBuffer {
  private readonly bytes: Buffer;
  /** Where the next byte goes. */
  private head = 0;
  private retained = 0;
  private written = 0;

  constructor(readonly capacity: number = DEFAULT_RING_BUFFER_BYTES) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring buffer capacity must be a positive integer, got ${capacity}`);
    this.bytes = Buffer.alloc(capacity);
  }

  /** Bytes currently retained (at most `capacity`). */
  get size(): number {
    return this.retained;
  }

  /** Every byte ever written, including those overwritten since. */
  get totalWritten(): number {
    return this.written;
  }

  write(chunk: Uint8Array): void {
    this.written += chunk.length;
    // Only the tail of a chunk larger than the buffer can survive.
    const kept = chunk.length > this.capacity ? chunk.subarray(chunk.length - this.capacity) : chunk;
    const first = Math.min(kept.length, this.capacity - this.head);
    this.bytes.set(kept.subarray(0, first), this.head);
    this.bytes.set(kept.subarray(first), 0);
    this.head = (this.head + kept.length) % this.capacity;
    this.retained = Math.min(this.capacity, this.retained + kept.length);
  }

  /** A copy of the retained bytes, oldest first. */
  snapshot(): Buffer {
    const start = (this.head - this.retained + this.capacity) % this.capacity;
    if (start + this.retained <= this.capacity) return Buffer.from(this.bytes.subarray(start, start + this.retained));
    return Buffer.concat([this.bytes.subarray(start), this.bytes.subarray(0, this.head)]);
  }
}
