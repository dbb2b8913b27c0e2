'use client';
import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import type { ReactNode } from 'react';
import { useTRPC } from './trpc';
import { Card, CopyText, ErrorNote } from './ui';

function Snippet({ title, children, text }: { title: string; children: ReactNode; text: string }) {
  return (
    <div className="space-y-1">
      <h3 className="text-sm font-medium">{title}</h3>
      <p className="text-xs text-slate-600">{children}</p>
      <CopyText text={text} label={title} />
    </div>
  );
}

const code = (text: string) => <code className="rounded bg-slate-100 px-1">{text}</code>;

/** On the box page: how to reach this box from a laptop, with ssh, docker and editors. */
export function ConnectPanel({ boxId }: { boxId: string }) {
  const trpc = useTRPC();
  const connect = useQuery(trpc.connect.snippets.queryOptions({ boxId }));
  const keys = useQuery(trpc.profile.keys.list.queryOptions());

  if (connect.error) return <ErrorNote error={connect.error} />;
  if (!connect.data) return null;
  const { alias, snippets, cliCommand } = connect.data;

  return (
    <Card title="Connect from your laptop">
      <div className="space-y-5">
        {keys.data?.length === 0 && (
          <p role="status" className="rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-900 ring-1 ring-amber-200">
            You have no SSH key on your{' '}
            <Link href="/profile" className="underline">
              profile
            </Link>{' '}
            yet: add one, and the box accepts it once an admin provisions it again.
          </p>
        )}
        <Snippet title="All your boxes at once" text={cliCommand}>
          Make an API token on your{' '}
          <Link href="/profile" className="text-indigo-700 underline">
            profile
          </Link>
          , install the CLI from there (one line), then run this. It writes an entry for every box you can reach into{' '}
          {code('~/.ssh/config')} (only between its own marker lines) and a docker context per box. Run it again when boxes change.
        </Snippet>

        <Snippet title="~/.ssh/config entry" text={snippets.sshConfig}>
          Or by hand: add this to {code('~/.ssh/config')}, then {code(`ssh ${alias}`)}. IdentityFile is your private key, whose public half is on
          your profile. The control master keeps one connection open for 10 minutes, so docker and editors reuse it.
        </Snippet>

        <Snippet title="Docker context" text={snippets.dockerContext}>
          Runs your local docker CLI against the box&apos;s daemon over that ssh entry: {code(`docker --context ${alias} ps`)}, or{' '}
          {code(`docker context use ${alias}`)}.
        </Snippet>

        <Snippet title="DOCKER_HOST" text={snippets.dockerHost}>
          The same for one shell or one command, without a context: {code(`export ${snippets.dockerHost}`)}.
        </Snippet>

        <Snippet title="VS Code Remote-SSH" text={snippets.vscodeRemoteUrl}>
          With the Remote - SSH extension and the ssh entry above,{' '}
          <a href={snippets.vscodeRemoteUrl} className="text-indigo-700 underline">
            open the box in VS Code
          </a>{' '}
          (or paste the link into a browser).
        </Snippet>

        <Snippet title="VS Code Docker setting" text={snippets.vscodeDockerSetting}>
          In {code('.vscode/settings.json')}: the Docker extension then shows the box&apos;s containers and images.
        </Snippet>

        <Snippet title="JetBrains Gateway" text={snippets.jetbrainsGateway}>
          A new SSH connection in Gateway, with your key pair.
        </Snippet>
      </div>
    </Card>
  );
}
