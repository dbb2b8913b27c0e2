import { cliTokenName } from '../../lib/cli-login';
import type { JobStatus } from '../../lib/job-status';
import type { SessionUser } from '../boxes/access';
import type { Db } from '../db/client';
import { shellQuote } from '../ssh/quote';

/** The first-run checklist's steps, in the order a new team lead does them. */
export const firstRunSteps = ['machine', 'developers', 'docker', 'cli'] as const;
export type FirstRunStep = (typeof firstRunSteps)[number];

export interface FirstRunState {
  /** Which steps are done, read from the records each step leaves (never from a flag the page sets). */
  done: Record<FirstRunStep, boolean>;
  /** A box to provision from (the first one added), for the Docker step's link. */
  firstBoxId: string | null;
}

/**
 * Where a new dashboard stands: a box or a host added, a developer invited, Docker provisioned on a box (a
 * succeeded job), the CLI signed in by the caller (`boxyard login` leaves an API token named by cliTokenName).
 */
export async function firstRunState(db: Db, user: SessionUser): Promise<FirstRunState> {
  const [firstBox, hosts, developers, docker, cliTokens] = await Promise.all([
    db.box.findFirst({ orderBy: { createdAt: 'asc' }, select: { id: true } }),
    db.host.count(),
    db.user.count({ where: { role: 'developer' } }),
    // The Docker recipe's kind (server/provision, a layer above this one).
    db.job.count({ where: { kind: 'docker', status: 'succeeded' satisfies JobStatus } }),
    db.apiToken.count({ where: { userId: user.id, revokedAt: null, name: { startsWith: cliTokenName('') } } }),
  ]);
  return {
    done: { machine: firstBox !== null || hosts > 0, developers: developers > 0, docker: docker > 0, cli: cliTokens > 0 },
    firstBoxId: firstBox?.id ?? null,
  };
}

/**
 * The one line that puts the dashboard's key in a box user's authorized_keys (run on the box, as that user), with
 * the modes sshd insists on; run twice, it adds the key once.
 */
export function authorizeKeyCommand(publicKey: string): string {
  const key = shellQuote(publicKey);
  const file = '~/.ssh/authorized_keys';
  return `mkdir -p ~/.ssh && chmod 700 ~/.ssh && touch ${file} && chmod 600 ${file} && { grep -qxF ${key} ${file} || echo ${key} >> ${file}; }`;
}
