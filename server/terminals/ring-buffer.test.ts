import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RingBuffer } from './ring-buffer';

const text = (buffer: RingBuffer) => buffer.snapshot().toString('latin1');
const bytes = (value: string) => Buffer.from(value, 'latin1');

describe('RingBuffer', () => {
  it('is empty at first', () => {
    const buffer = new RingBuffer(8);
    expect(buffer.size).toBe(0);
    expect(buffer.totalWritten).toBe(0);
    expect(buffer.snapshot()).toEqual(Buffer.alloc(0));
  });

  it('keeps everything while under capacity, in order', () => {
    const buffer = new RingBuffer(8);
    buffer.write(bytes('abc'));
    buffer.write(bytes('de'));
    expect(text(buffer)).toBe('abcde');
    expect(buffer.size).toBe(5);
  });

  it('holds exactly capacity bytes', () => {
    const buffer = new RingBuffer(8);
    buffer.write(bytes('abcd'));
    buffer.write(bytes('efgh'));
    expect(text(buffer)).toBe('abcdefgh');
    expect(buffer.size).toBe(8);
  });

  it('wraps around and keeps the newest bytes', () => {
    const buffer = new RingBuffer(8);
    buffer.write(bytes('abcdef'));
    buffer.write(bytes('ghijk'));
    expect(text(buffer)).toBe('defghijk');
    buffer.write(bytes('l'));
    expect(text(buffer)).toBe('efghijkl');
    expect(buffer.totalWritten).toBe(12);
  });

  it('keeps only the tail of a chunk bigger than the capacity', () => {
    const buffer = new RingBuffer(8);
    buffer.write(bytes('xyz'));
    buffer.write(bytes('0123456789abcdef'));
    expect(text(buffer)).toBe('89abcdef');
    expect(buffer.size).toBe(8);
    expect(buffer.totalWritten).toBe(19);
  });

  it('ignores empty writes', () => {
    const buffer = new RingBuffer(4);
    buffer.write(bytes('ab'));
    buffer.write(new Uint8Array(0));
    expect(text(buffer)).toBe('ab');
  });

  it('returns a copy that later writes do not change', () => {
    const buffer = new RingBuffer(4);
    buffer.write(bytes('abcd'));
    const snapshot = buffer.snapshot();
    buffer.write(bytes('ef'));
    expect(snapshot.toString('latin1')).toBe('abcd');
  });

  it('always equals the last `capacity` bytes of everything written', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.array(fc.uint8Array({ maxLength: 100 }), { maxLength: 30 }), (capacity, chunks) => {
        const buffer = new RingBuffer(capacity);
        for (const chunk of chunks) buffer.write(chunk);
        const all = Buffer.concat(chunks);
        expect(buffer.snapshot()).toEqual(all.subarray(Math.max(0, all.length - capacity)));
        expect(buffer.totalWritten).toBe(all.length);
      }),
    );
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new RingBuffer(0)).toThrow(RangeError);
    expect(() => new RingBuffer(1.5)).toThrow(RangeError);
  });
});
