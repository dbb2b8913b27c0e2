'use client';
import { useInfiniteQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useTRPC } from '../../../components/trpc';
import { DataTable } from '../../../components/data-table';
import { Button, ErrorNote, Input, PageHeader } from '../../../components/ui';
import { formatWhen } from '../../../lib/format';

export default function AuditPage() {
  const trpc = useTRPC();
  const [action, setAction] = useState('');
  const events = useInfiniteQuery(
    trpc.audit.list.infiniteQueryOptions({ limit: 50, action: action || undefined }, { getNextPageParam: (page) => page.nextCursor, refetchInterval: 10_000 }),
  );
  const rows = events.data?.pages.flatMap((p) => p.items) ?? [];

  return (
    <>
      <PageHeader title="Audit log">
        <Input aria-label="Filter by action prefix" placeholder="Action, e.g. ssh.exec or box." value={action} onChange={(e) => setAction(e.target.value)} className="w-64" />
      </PageHeader>
      <ErrorNote error={events.error} />
      <DataTable label="Audit events" columns={[{ label: 'When' }, { label: 'Who' }, { label: 'Action' }, { label: 'Box' }, { label: 'Result' }, { label: 'Details' }]} bodyClassName="align-top">
        {rows.map((e) => (
          <tr key={e.id} data-action={e.action}>
            <td className="whitespace-nowrap px-4 py-2 text-slate-600">{formatWhen(e.at)}</td>
            <td className="px-4 py-2">{e.actorEmail ?? <span className="text-slate-500">dashboard</span>}</td>
            <td className="px-4 py-2 font-mono text-xs">{e.action}</td>
            <td className="px-4 py-2">{e.boxName ?? '—'}</td>
            <td className="px-4 py-2">
              <span className={e.result === 'ok' ? 'text-emerald-700' : 'text-red-700'}>{e.result}</span>
              {e.error && <div className="max-w-xs text-xs text-slate-600">{e.error}</div>}
            </td>
            <td className="px-4 py-2">
              <pre className="max-w-md overflow-x-auto whitespace-pre-wrap break-all font-mono text-xs text-slate-600">{JSON.stringify(e.detail)}</pre>
            </td>
          </tr>
        ))}
      </DataTable>
      {events.hasNextPage && (
        <div className="mt-4 text-center">
          <Button variant="secondary" onClick={() => void events.fetchNextPage()} disabled={events.isFetchingNextPage}>
            Older events
          </Button>
        </div>
      )}
    </>
  );
}
