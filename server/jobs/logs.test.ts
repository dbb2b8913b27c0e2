import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dbProvider } from '../db/client';
import superjson from 'superjson';
import { isAppError } from '../errors';
import { startBackend, type Backend, type TestUser } from '../../testing/helpers/terminals';
import { appRouter } from '../trpc/router';
import { createBox } from '../boxes/boxes';
import { JobEvents, JobJournal } from './journal';
import { DbJobQueue, type ClaimedJob } from './queue';

interface SseEvent {
  event: string;
  id?: string;
  data: unknown;
}

/**
 * Reads a tRPC subscription the way a browser's EventSource does (GET, text/event-stream), so the test sees the real
 * event ids a reconnecting client sends back as lastEventId.
 */
async function readSse(url: string, cookie: string, onEvent: (event: SseEvent) => boolean | void, timeoutMs = 10_000): Promise<SseEvent[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const events: SseEvent[] = [];
  try {
    const response = await fetch(url, { headers: { cookie, accept: 'text/event-stream' }, signal: controller.signal });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const decoder = new TextDecoder();
    const reader = response.body!.getReader();
    let buffer = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = new Map<string, string>();
        for (const line of frame.split('\n')) {
          const colon = line.indexOf(':');
          if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trimStart());
        }
        const data = fields.get('data');
        const event: SseEvent = { event: fields.get('event') ?? 'message', id: fields.get('id'), data: data ? superjson.deserialize(JSON.parse(data)) : undefined };
        events.push(event);
        if (onEvent(event) === true || event.event === 'return') return events;
      }
    }
    return events;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

describe('jobs.logs: the live job log over SSE, resumable by event id', () => {
  let backend: Backend;
  let baseUrl: string;
  let developer: TestUser;
  let sharedBox: { id: string; name: string };
  let otherBox: { id: string; name: string };
  let queue: DbJobQueue;

  beforeAll(async () => {
    backend = await startBackend();
    // Jobs here are driven by hand (journal and queue), not by a runner.
    await backend.services.jobs.stop();
    baseUrl = (await backend.listen()).replace(/^ws:/, 'http:');
    developer = await backend.addUser('dev@example.com');
    const { db, secrets } = backend.services;
    const addBox = (name: string, memberIds: string[]) =>
      createBox(db, secrets, backend.admin.user, { name, host: '127.0.0.1', port: 1, sshUser: 'dev', tags: [], notes: '', memberIds, auth: { method: 'dashboard-key' } });
    sharedBox = await addBox('shared', [developer.user.id]);
    otherBox = await addBox('not-shared', []);
    queue = new DbJobQueue(db, { runnerId: 'logs-test', leaseMs: 60_000, provider: dbProvider(backend.services.env.databaseUrl) });
  });
  afterAll(() => backend.stop());

  /** A running job with `lines` log lines, written as the runner writes them. */
  async function runningJob(box: { id: string; name: string }, lines: number, events = backend.services.jobs.events) {
    const id = await queue.enqueue({ kind: 'docker', box, host: null, createdBy: backend.admin.user, params: {}, stepNames: ['one'] });
    const claimed = (await queue.claim([]))!;
    expect(claimed.id).toBe(id);
    const journal = await JobJournal.open(backend.services.db, events, id);
    for (let i = 1; i <= lines; i++) await journal.log([{ level: 'stdout', text: `line ${i}` }], 0);
    return { id, claimed, journal };
  }

  async function finish(claimed: ClaimedJob) {
    await queue.finish(claimed, { status: 'failed', error: 'it broke' });
    backend.services.jobs.events.emit('finished', claimed.id);
  }

  const logsUrl = (id: string, lastEventId?: string) =>
    `${baseUrl}/api/trpc/jobs.logs?input=${encodeURIComponent(JSON.stringify(superjson.serialize({ id, lastEventId })))}`;
  const lineEvents = (events: SseEvent[]) => events.filter((event) => (event.data as { type?: string } | undefined)?.type === 'line');

  it('replays after lastEventId, then ends with the final status; each event id is the last seq sent', async () => {
    const { id, claimed, journal } = await runningJob(sharedBox, 5);
    await journal.log([{ level: 'error', text: 'Failed: it broke' }]);
    await finish(claimed);

    const events = await readSse(logsUrl(id, '2'), developer.cookie, () => undefined);
    const lines = lineEvents(events);
    expect(lines.map((event) => [event.id, (event.data as { seq: number; text: string }).text])).toEqual([
      ['3', 'line 3'],
      ['4', 'line 4'],
      ['5', 'line 5'],
      ['6', 'Failed: it broke'],
    ]);
    expect(lines[0]!.data).toMatchObject({ type: 'line', seq: 3, level: 'stdout', stepIndex: 0, at: expect.any(Date) });
    const end = events.find((event) => (event.data as { type?: string } | undefined)?.type === 'end')!;
    expect(end).toMatchObject({ id: '6', data: { type: 'end', status: 'failed', error: 'it broke' } });
    expect(events.at(-1)!.event).toBe('return');
  });

  it('streams lines as the runner writes them, without gaps or repeats, until the job finishes', async () => {
    const { id, claimed, journal } = await runningJob(sharedBox, 2);
    const received: SseEvent[] = [];
    const reading = readSse(logsUrl(id), backend.admin.cookie, (event) => {
      received.push(event);
    });
    await expect.poll(() => lineEvents(received).length).toBe(2);
    const written = Date.now();
    await journal.log([{ level: 'stdout', text: 'line 3' }, { level: 'stdout', text: 'line 4' }], 0);
    await expect.poll(() => lineEvents(received).length, { interval: 10 }).toBe(4);
    // Woken by the runner's in-process event, not by the 2 s catch-up poll.
    expect(Date.now() - written).toBeLessThan(1_000);
    await journal.log([{ level: 'stdout', text: 'line 5' }], 0);
    await finish(claimed);
    await reading;
    expect(lineEvents(received).map((event) => event.id)).toEqual(['1', '2', '3', '4', '5']);
    expect(received.some((event) => (event.data as { type?: string } | undefined)?.type === 'end')).toBe(true);
  });

  it('also follows a job run by another dashboard process, whose events never reach this one', async () => {
    const { id, claimed, journal } = await runningJob(sharedBox, 1, new JobEvents());
    const received: SseEvent[] = [];
    const reading = readSse(logsUrl(id), backend.admin.cookie, (event) => {
      received.push(event);
    });
    await expect.poll(() => lineEvents(received).length).toBe(1);
    await journal.log([{ level: 'stdout', text: 'line 2' }], 0);
    await expect.poll(() => lineEvents(received).length, { timeout: 5_000 }).toBe(2);
    await queue.finish(claimed, { status: 'succeeded' });
    await reading;
    expect(received.at(-2)!.data).toMatchObject({ type: 'end', status: 'succeeded' });
  });

  it('shows developers only the jobs of boxes they may reach', async () => {
    const visible = await runningJob(sharedBox, 1);
    const hidden = await runningJob(otherBox, 1);
    const asDeveloper = appRouter.createCaller({ services: backend.services, user: developer.user });
    const asAdmin = appRouter.createCaller({ services: backend.services, user: backend.admin.user });

    const listed = (await asDeveloper.jobs.list()).map((job) => job.id);
    expect(listed).toContain(visible.id);
    expect(listed).not.toContain(hidden.id);
    expect((await asAdmin.jobs.list({ boxId: otherBox.id })).map((job) => job.id)).toContain(hidden.id);

    const job = await asDeveloper.jobs.get({ id: visible.id });
    expect(job).toMatchObject({ boxName: 'shared', status: 'running', steps: [{ index: 0, name: 'one', status: 'pending' }] });
    const denied = await asDeveloper.jobs.get({ id: hidden.id }).catch((error: unknown) => error);
    expect((denied as { cause?: unknown }).cause).toSatisfy((cause) => isAppError(cause, 'NOT_FOUND'));
    const stream = await asDeveloper.jobs.logs({ id: hidden.id });
    await expect(stream[Symbol.asyncIterator]().next()).rejects.toThrow('No such job, or you do not have access to it.');
    await expect(asDeveloper.jobs.cancel({ id: visible.id })).rejects.toThrow(/Only admins/);
  });
});
