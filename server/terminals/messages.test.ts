import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { limits, utf8Length } from '../../lib/terminal-protocol';
import { parseClientMessage } from './messages';

const text = (value: unknown) => Buffer.from(JSON.stringify(value));
const reasonOf = (result: ReturnType<typeof parseClientMessage>) => (result.ok ? null : result.reason);

describe('parseClientMessage', () => {
  it('reads each message type', () => {
    expect(parseClientMessage(text({ type: 'input', data: 'ls\r' }), false)).toEqual({ ok: true, message: { type: 'input', data: 'ls\r' } });
    expect(parseClientMessage(text({ type: 'resize', cols: 120, rows: 40 }), false)).toEqual({ ok: true, message: { type: 'resize', cols: 120, rows: 40 } });
    expect(parseClientMessage(text({ type: 'ack', bytes: 65536 }), false)).toEqual({ ok: true, message: { type: 'ack', bytes: 65536 } });
    expect(parseClientMessage(text({ type: 'close' }), false)).toEqual({ ok: true, message: { type: 'close' } });
  });

  it('accepts a string and fragmented frames', () => {
    expect(parseClientMessage('{"type":"close"}', false).ok).toBe(true);
    expect(parseClientMessage([Buffer.from('{"type":'), Buffer.from('"close"}')], false).ok).toBe(true);
    expect(parseClientMessage(new TextEncoder().encode('{"type":"close"}').buffer as ArrayBuffer, false).ok).toBe(true);
  });

  it('refuses binary frames', () => {
    expect(reasonOf(parseClientMessage(text({ type: 'close' }), true))).toMatch(/Binary messages are not accepted/);
  });

  it('refuses malformed JSON and non-objects', () => {
    expect(reasonOf(parseClientMessage(Buffer.from('{"type": "input", '), false))).toBe('The message is not valid JSON.');
    expect(reasonOf(parseClientMessage(Buffer.from('[1,2]'), false))).toMatch(/JSON object/);
    expect(reasonOf(parseClientMessage(Buffer.from('null'), false))).toMatch(/JSON object/);
  });

  it('names an unknown or missing type and lists the known ones', () => {
    expect(reasonOf(parseClientMessage(text({ type: 'exec', command: 'id' }), false))).toBe(
      'Unknown message type ("exec"); expected one of input, resize, ack, close.',
    );
    expect(reasonOf(parseClientMessage(text({ data: 'x' }), false))).toMatch(/Unknown message type \(missing\)/);
  });

  it('refuses input over the limit counted in UTF-8 bytes', () => {
    expect(parseClientMessage(text({ type: 'input', data: 'a'.repeat(limits.maxInputBytes) }), false).ok).toBe(true);
    expect(reasonOf(parseClientMessage(text({ type: 'input', data: 'a'.repeat(limits.maxInputBytes + 1) }), false))).toBe(
      'Refused input message: data: Input message too long; send it in smaller pieces.',
    );
    // 30,000 three-byte characters: under the limit in characters, over it in bytes.
    expect(reasonOf(parseClientMessage(text({ type: 'input', data: '漢'.repeat(30_000) }), false))).toMatch(/too long/);
  });

  it('refuses a frame over the protocol maximum', () => {
    expect(reasonOf(parseClientMessage(Buffer.alloc(limits.maxMessageBytes + 1, 0x20), false))).toMatch(/Message too long/);
  });

  it('refuses resizes out of range with the limit in the reason', () => {
    expect(reasonOf(parseClientMessage(text({ type: 'resize', cols: 0, rows: 24 }), false))).toBe(
      'Refused resize message: cols: A terminal is at least 2 columns wide.',
    );
    expect(reasonOf(parseClientMessage(text({ type: 'resize', cols: 100000, rows: 24 }), false))).toBe(
      'Refused resize message: cols: A terminal is at most 1000 columns wide.',
    );
    expect(reasonOf(parseClientMessage(text({ type: 'resize', cols: 80, rows: 2.5 }), false))).toMatch(/^Refused resize message: rows:/);
  });

  it('refuses acks that are not a byte count', () => {
    expect(reasonOf(parseClientMessage(text({ type: 'ack', bytes: -1 }), false))).toMatch(/^Refused ack message: bytes:/);
    expect(reasonOf(parseClientMessage(text({ type: 'ack', bytes: '5' }), false))).toMatch(/^Refused ack message: bytes:/);
  });
});

describe('utf8Length', () => {
  it('agrees with the bytes Node sends for any string, lone surrogates included', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (value) => utf8Length(value) === Buffer.byteLength(value, 'utf8')));
    expect(utf8Length('a\ud800b')).toBe(Buffer.byteLength('a\ud800b'));
  });
});
