'use client';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useTRPC } from '../../../components/trpc';
import { DataTable } from '../../../components/data-table';
import { Button, ErrorNote, PageHeader } from '../../../components/ui';
import { formatWhen } from '../../../lib/format';
import { words } from '../../../lib/words';

/** Admins: every open terminal session on the dashboard, with a way to end it. */
export default function SessionsPage() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const sessions = useQuery({ ...trpc.terminals.list.queryOptions(), refetchInterval: 3_000 });
  const close = useMutation(
    trpc.terminals.close.mutationOptions({ onSettled: () => queryClient.invalidateQueries({ queryKey: trpc.terminals.list.queryKey() }) }),
  );
  const rows = sessions.data ?? [];

  return (
    <>
      <PageHeader title="Terminal sessions" />
      <div className="space-y-4">
        <ErrorNote error={sessions.error ?? close.error} />
        <DataTable empty={sessions.data && rows.length === 0 ? 'No open sessions.' : null} label="Terminal sessions" columns={[{ label: 'User' }, { label: 'Box' }, { label: 'Container' }, { label: 'State' }, { label: 'Since' }, { label: 'Attached' }, { label: 'Actions', srOnly: true }]}>
          {rows.map((s) => (
            <tr key={s.id} data-session={s.id}>
              <td className="px-4 py-2">{s.user.email}</td>
              <td className="px-4 py-2">
                <Link href={`/boxes/${encodeURIComponent(s.box.id)}`} className="text-indigo-700 hover:underline">
                  {s.box.name}
                </Link>
              </td>
              <td className="px-4 py-2 font-mono text-xs">{s.container ?? '—'}</td>
              <td className="px-4 py-2">{words.sessionStates[s.state]}</td>
              <td className="whitespace-nowrap px-4 py-2 text-slate-600">{formatWhen(s.since)}</td>
              <td className="px-4 py-2">{s.attached ? 'yes' : 'no'}</td>
              <td className="px-4 py-2 text-right">
                <Button
                  variant="danger"
                  aria-label={`Close the session of ${s.user.email} on ${s.box.name}`}
                  disabled={close.isPending && close.variables?.id === s.id}
                  onClick={() => close.mutate({ id: s.id })}
                >
                  Close
                </Button>
              </td>
            </tr>
          ))}
        </DataTable>
      </div>
    </>
  );
}
