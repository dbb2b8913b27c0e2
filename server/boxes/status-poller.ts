import pLimit from 'p-limit';
import type { Db } from '../db/client';
import { logger } from '../log';
import type { BoxRemote } from './remote';

/**
 * Keeps every box's status current by checking that it still accepts a connection (the pool's
 * keepalive makes this nearly free for boxes that are already connected). Runs no command on the box.
 * With several dashboard processes each box is checked by the one that samples it (`owns`): the status is a row all
 * of them read, and the others need no connection to a box until someone uses it through them.
 */
export class StatusPoller {
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;

  constructor(private readonly deps: { db: Db; remote: BoxRemote; intervalMs: number; concurrency?: number; owns?: (boxId: string) => boolean }) {}

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.checkAll(), this.deps.intervalMs);
    this.#timer.unref();
    void this.checkAll();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  /** One pass over the fleet; a pass still running is joined rather than doubled. */
  checkAll(): Promise<void> {
    this.#running ??= this.#checkAll().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #checkAll(): Promise<void> {
    const owns = this.deps.owns ?? (() => true);
    const boxes = (await this.deps.db.box.findMany({ select: { id: true } })).filter((box) => owns(box.id));
    const limit = pLimit(this.deps.concurrency ?? 16);
    await Promise.all(
      boxes.map((box) =>
        limit(() =>
          this.deps.remote.probe(box.id).catch((error: unknown) => logger.warn({ err: error, boxId: box.id }, 'status check failed')),
        ),
      ),
    );
  }
}
