'use client';
import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { memo, useEffect, useState, type ReactNode } from 'react';
import type { FirstRunStep } from '../server/settings/first-run';
import { useTRPC } from './trpc';
import { Button, Card, CopyText } from './ui';

/** Dismissal is this browser's (localStorage): it hides a hint, so it needs no record on the server. */
const DISMISSED_KEY = 'boxyard.firstRun.dismissed';

function Step({ done, title, href, action, children }: { done: boolean; title: string; href: string; action: string; children?: ReactNode }) {
  return (
    <li className="flex gap-3 py-3" data-step={title} data-done={done}>
      <span aria-hidden className={`mt-0.5 grid size-5 shrink-0 place-items-center rounded-full text-xs ${done ? 'bg-emerald-600 text-white' : 'ring-1 ring-slate-300'}`}>
        {done ? '✓' : ''}
      </span>
      <div className="min-w-0 flex-1 space-y-2">
        <div className="flex flex-wrap items-center justify-between gap-2">
          <span className={`text-sm font-medium ${done ? 'text-slate-500 line-through' : ''}`}>
            {title}
            <span className="sr-only">{done ? ' (done)' : ' (to do)'}</span>
          </span>
          <Link href={href} className="text-sm text-indigo-700 hover:underline">
            {action}
          </Link>
        </div>
        {!done && children}
      </div>
    </li>
  );
}

/**
 * The fleet page's first-run checklist for admins: each step ticks itself from the records it leaves (a box or host,
 * a developer, a succeeded Docker job, a CLI sign-in), polled while the page is open. Hidden once every step is done
 * or when dismissed. Memoized: the fleet page re-renders on each sort and filter, this has nothing to do with them.
 */
export const FirstRunChecklist = memo(function FirstRunChecklist() {
  const trpc = useTRPC();
  const [dismissed, setDismissed] = useState(true);
  useEffect(() => setDismissed(localStorage.getItem(DISMISSED_KEY) === '1'), []);
  const state = useQuery({ ...trpc.settings.firstRun.queryOptions(), refetchInterval: 5_000, enabled: !dismissed });
  const s = state.data;
  if (dismissed || !s) return null;
  const steps = Object.values(s.done);
  const doneCount = steps.filter(Boolean).length;
  if (doneCount === steps.length) return null;
  const done = (step: FirstRunStep) => s.done[step];

  return (
    <div className="mb-6">
      <Card
        title={<span id="first-run-title">Get started</span>}
        actions={
          <Button
            variant="ghost"
            onClick={() => {
              localStorage.setItem(DISMISSED_KEY, '1');
              setDismissed(true);
            }}
          >
            Dismiss
          </Button>
        }
      >
        <section aria-labelledby="first-run-title" data-testid="first-run">
          <p className="text-sm text-slate-600" data-testid="first-run-progress">
            {doneCount} of {steps.length} done
          </p>
          <div className="mt-2 h-1.5 rounded-full bg-slate-100" role="progressbar" aria-label="Set-up progress" aria-valuenow={doneCount} aria-valuemin={0} aria-valuemax={steps.length}>
            <div className="h-1.5 rounded-full bg-emerald-500" style={{ width: `${(doneCount / steps.length) * 100}%` }} />
          </div>
          <ol className="mt-2 divide-y divide-slate-100">
            <Step done={done('machine')} title="Add a box or a hypervisor host" href="/boxes/new" action="Add a box">
              <p className="text-sm text-slate-600">
                Boxyard signs in with its own key. On the box (or the host), as the user it should sign in as, run this line; then add it here.
                A host that runs VMs (Parallels, UTM, libvirt) is added on the <Link href="/hosts/new" className="text-indigo-700 hover:underline">hosts page</Link>.
              </p>
              <CopyText text={s.authorizeCommand} label="command that authorizes the dashboard's key" />
            </Step>
            <Step done={done('developers')} title="Invite developers" href="/users" action="Add a user">
              <p className="text-sm text-slate-600">Each developer gets an account and sees only the boxes they own or are given.</p>
            </Step>
            <Step done={done('docker')} title="Provision Docker on a box" href={s.firstBoxId ? `/boxes/${s.firstBoxId}` : '/boxes/new'} action="Provision">
              <p className="text-sm text-slate-600">One job installs Docker, its log settings and the developers&apos; SSH keys; select several boxes in the fleet to do many at once.</p>
            </Step>
            <Step done={done('cli')} title="Install the CLI on your laptop" href="/profile" action="Your profile">
              <p className="text-sm text-slate-600">Then run <code className="rounded bg-slate-100 px-1">boxyard login</code>: this step ticks when you have signed in with it.</p>
              <CopyText text={s.cliInstallCommand} label="CLI install command" />
            </Step>
          </ol>
        </section>
      </Card>
    </div>
  );
});
