import { EventEmitter } from 'node:events';
import { StringDecoder } from 'node:string_decoder';
import { isUniqueViolation, type Db } from '../db/client';
import type { LogLevel } from './recipe';

export interface JobLogLine {
  jobId: string;
  /** 1, 2, 3... per job. */
  seq: number;
  at: Date;
  level: LogLevel;
  /** The step the line belongs to (0-based); null for job-level lines. */
  stepIndex: number | null;
  text: string;
}

export type StepStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped';

/**
 * In-process notifications for live log streams: `log` after lines are in the database, `finished` after the job's
 * final status is. Jobs run by another dashboard process emit nothing here, so followers also poll (see jobs.ts).
 */
export class JobEvents extends EventEmitter<{ log: [lines: JobLogLine[]]; finished: [jobId: string] }> {
  constructor() {
    super();
    // One listener pair per open log stream, and many browsers may watch.
    this.setMaxListeners(0);
  }
}

/** Lines kept from each stream (stdout, stderr) of one command: its start and, mostly, its end, where errors are. */
const HEAD_LINES = 200;
const TAIL_LINES = 100;
const MAX_LINE_CHARS = 2_000;

/**
 * One output stream of a running command as log lines: the first HEAD_LINES are handed on as they arrive (the live
 * log), later ones only as the last TAIL_LINES, after a count of those left out, when the command ends. Each line is
 * cut to MAX_LINE_CHARS; blank lines at the very end are dropped.
 */
export class OutputLines {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  private kept = 0;
  private omitted = 0;
  private blanks = 0;
  private readonly tail: string[] = [];

  constructor(private readonly emit: (lines: string[]) => void) {}

  push(chunk: Buffer | string): void {
    const parts = (this.partial + (typeof chunk === 'string' ? chunk : this.decoder.write(chunk))).split('\n');
    this.partial = parts.pop()!;
    this.emitLines(parts);
  }

  end(): void {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (rest) this.emitLines([rest]);
    const last = [...(this.omitted > 0 ? [`[${this.omitted} lines not logged]`] : []), ...this.tail.splice(0)];
    if (last.length > 0) this.emit(last);
  }

  private emitLines(raw: string[]): void {
    const now: string[] = [];
    for (const text of raw) {
      // Progress output redraws one line with carriage returns; keep what it finally showed.
      const shown = text.split('\r').filter(Boolean).at(-1) ?? '';
      if (!shown) {
        this.blanks++;
        continue;
      }
      const lines = [...Array<string>(this.blanks).fill(''), shown.length > MAX_LINE_CHARS ? `${shown.slice(0, MAX_LINE_CHARS)} [cut]` : shown];
      this.blanks = 0;
      for (const line of lines) {
        if (this.kept < HEAD_LINES) {
          this.kept++;
          now.push(line);
        } else {
          this.tail.push(line);
          if (this.tail.length > TAIL_LINES) {
            this.tail.shift();
            this.omitted++;
          }
        }
      }
    }
    if (now.length > 0) this.emit(now);
  }
}

/** The log lines of a whole output at once (see OutputLines). */
export function capOutput(output: string): string[] {
  const lines: string[] = [];
  const splitter = new OutputLines((more) => lines.push(...more));
  splitter.push(output);
  splitter.end();
  return lines;
}

/**
 * Writes one running job's progress: its log (numbering lines), step rows and state. Only the runner holding the job's
 * lease writes, so it numbers lines itself, continuing after the last line a previous run left.
 */
export class JobJournal {
  /** Writes are chained so that lines reach the database, and listeners, in seq order. */
  private tail: Promise<void> = Promise.resolve();

  private constructor(
    private readonly db: Db,
    private readonly events: JobEvents,
    readonly jobId: string,
    private lastSeq: number,
  ) {}

  static async open(db: Db, events: JobEvents, jobId: string): Promise<JobJournal> {
    const journal = new JobJournal(db, events, jobId, 0);
    await journal.reloadLastSeq();
    return journal;
  }

  private async reloadLastSeq(): Promise<void> {
    const last = await this.db.jobLog.findFirst({ where: { jobId: this.jobId }, orderBy: { seq: 'desc' }, select: { seq: true } });
    this.lastSeq = last?.seq ?? 0;
  }

  log(entries: readonly { level: LogLevel; text: string }[], stepIndex: number | null = null): Promise<void> {
    if (entries.length === 0) return this.tail;
    const write = async () => {
      for (let attempt = 1; ; attempt++) {
        const at = new Date();
        const first = this.lastSeq + 1;
        const lines = entries.map((entry, i): JobLogLine => ({ jobId: this.jobId, seq: first + i, at, level: entry.level, stepIndex, text: entry.text }));
        try {
          await this.db.jobLog.createMany({ data: lines });
        } catch (error) {
          // Another writer took these numbers: a runner that lost the lease still finishing a command, or the new
          // holder. Continue after the lines that are there.
          if (!isUniqueViolation(error) || attempt === 3) throw error;
          await this.reloadLastSeq();
          continue;
        }
        this.lastSeq = first + lines.length - 1;
        this.events.emit('log', lines);
        return;
      }
    };
    const written = this.tail.then(write);
    // A failed write fails its caller, not every later line.
    this.tail = written.catch(() => undefined);
    return written;
  }

  /** Every run of a step: the first, a retry after a connection problem, a resume. startedAt keeps the first. */
  async stepAttempted(index: number): Promise<void> {
    const key = { jobId_index: { jobId: this.jobId, index } };
    await this.db.$transaction([
      this.db.jobStep.update({ where: key, data: { status: 'running', attempts: { increment: 1 }, finishedAt: null, error: null } }),
      this.db.jobStep.updateMany({ where: { jobId: this.jobId, index, startedAt: null }, data: { startedAt: new Date() } }),
    ]);
  }

  /** A succeeded step also saves the job's state, so the facts it found survive a resume. */
  async stepSucceeded(index: number, changed: boolean, state: object): Promise<void> {
    await this.db.$transaction([
      this.db.jobStep.update({
        where: { jobId_index: { jobId: this.jobId, index } },
        data: { status: 'succeeded', changed, finishedAt: new Date() },
      }),
      this.db.job.update({ where: { id: this.jobId }, data: { state: JSON.stringify(state) } }),
    ]);
  }

  async stepFailed(index: number, error: string): Promise<void> {
    await this.db.jobStep.update({
      where: { jobId_index: { jobId: this.jobId, index } },
      data: { status: 'failed', error, finishedAt: new Date() },
    });
  }

  /** Steps that will not run because the job ended early. */
  async skipPending(): Promise<void> {
    await this.db.jobStep.updateMany({ where: { jobId: this.jobId, status: 'pending' }, data: { status: 'skipped' } });
  }
}
