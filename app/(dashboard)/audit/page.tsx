'use client';
import { useMutation, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { DataTable } from '../../../components/data-table';
import { failed, succeeded } from '../../../components/toasts';
import { useTRPC } from '../../../components/trpc';
import { Button, ErrorNote, Input, PageHeader, Select } from '../../../components/ui';
import { formatWhen } from '../../../lib/format';

const PAGE_SIZE = 50;
/** The value of the user filter meaning the dashboard itself (events without a user). */
const DASHBOARD = '\u0000dashboard';

/** A detail value in words: strings as they are, anything else as compact JSON. */
function detailValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** An event's details as key: value lines, not raw JSON. */
function Details({ detail }: { detail: Record<string, unknown> }) {
  const entries = Object.entries(detail);
  if (!entries.length) return <span className="text-slate-400">—</span>;
  return (
    <dl className="max-w-md space-y-0.5 text-xs">
      {entries.map(([key, value]) => (
        <div key={key} className="flex gap-1.5">
          <dt className="shrink-0 text-slate-500">{key}:</dt>
          <dd className="min-w-0 break-all font-mono text-slate-700">{detailValue(value)}</dd>
        </div>
      ))}
    </dl>
  );
}

/** A datetime-local field's value as milliseconds since 1970 (the browser's time zone), or undefined when empty. */
function epochOf(local: string): number | undefined {
  const ms = local ? new Date(local).getTime() : NaN;
  return Number.isNaN(ms) ? undefined : ms;
}

function download(file: { filename: string; mimeType: string; content: string }) {
  const url = URL.createObjectURL(new Blob([file.content], { type: file.mimeType }));
  const link = document.createElement('a');
  link.href = url;
  link.download = file.filename;
  link.click();
  URL.revokeObjectURL(url);
}

export default function AuditPage() {
  const trpc = useTRPC();
  const [actor, setActor] = useState('');
  const [boxId, setBoxId] = useState('');
  const [hostId, setHostId] = useState('');
  const [action, setAction] = useState('');
  const [result, setResult] = useState<'' | 'ok' | 'error'>('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [page, setPage] = useState(1);
  const filter = {
    actorEmail: actor === '' ? undefined : actor === DASHBOARD ? null : actor,
    boxId: boxId || undefined,
    hostId: hostId || undefined,
    action: action.trim() || undefined,
    result: result || undefined,
    from: epochOf(from),
    to: epochOf(to),
  };
  const users = useQuery(trpc.users.list.queryOptions());
  const boxes = useQuery(trpc.boxes.list.queryOptions());
  const hosts = useQuery(trpc.hosts.list.queryOptions());
  const events = useQuery({ ...trpc.audit.page.queryOptions({ ...filter, page, pageSize: PAGE_SIZE }), refetchInterval: 10_000 });
  const exportRows = useMutation(
    trpc.audit.export.mutationOptions({
      onSuccess: (file) => {
        download(file);
        succeeded(`Exported ${file.rows} events as ${file.filename}.`);
      },
      onError: failed,
    }),
  );
  /** A changed filter starts again at the newest page. */
  const filtered = <T,>(set: (value: T) => void) => (value: T) => {
    set(value);
    setPage(1);
  };
  const data = events.data;

  return (
    <>
      <PageHeader title="Audit log">
        <Button variant="secondary" onClick={() => exportRows.mutate({ ...filter, format: 'csv' })} disabled={exportRows.isPending}>
          Export CSV
        </Button>
        <Button variant="secondary" onClick={() => exportRows.mutate({ ...filter, format: 'json' })} disabled={exportRows.isPending}>
          Export JSON
        </Button>
      </PageHeader>
      <form className="mb-4 grid gap-3 sm:grid-cols-2 lg:grid-cols-4" aria-label="Filter audit events" onSubmit={(e) => e.preventDefault()}>
        <Select aria-label="User" value={actor} onChange={(e) => filtered(setActor)(e.target.value)}>
          <option value="">Every user</option>
          <option value={DASHBOARD}>the dashboard itself</option>
          {users.data?.map((u) => (
            <option key={u.id} value={u.email}>
              {u.email}
            </option>
          ))}
        </Select>
        <Select aria-label="Box" value={boxId} onChange={(e) => filtered(setBoxId)(e.target.value)}>
          <option value="">Every box</option>
          {boxes.data?.map((b) => (
            <option key={b.id} value={b.id}>
              {b.name}
            </option>
          ))}
        </Select>
        <Select aria-label="Host" value={hostId} onChange={(e) => filtered(setHostId)(e.target.value)}>
          <option value="">Every host</option>
          {hosts.data?.map((h) => (
            <option key={h.id} value={h.id}>
              {h.name}
            </option>
          ))}
        </Select>
        <Select aria-label="Result" value={result} onChange={(e) => filtered(setResult)(e.target.value as '' | 'ok' | 'error')}>
          <option value="">Any result</option>
          <option value="ok">ok</option>
          <option value="error">error</option>
        </Select>
        <Input aria-label="Action prefix" placeholder="Action, e.g. ssh.exec or box." value={action} maxLength={64} onChange={(e) => filtered(setAction)(e.target.value)} />
        <Input aria-label="From" type="datetime-local" value={from} onChange={(e) => filtered(setFrom)(e.target.value)} />
        <Input aria-label="Until" type="datetime-local" value={to} onChange={(e) => filtered(setTo)(e.target.value)} />
      </form>
      <ErrorNote error={events.error ?? exportRows.error} />
      <DataTable
        label="Audit events"
        columns={[{ label: 'When' }, { label: 'Who' }, { label: 'Action' }, { label: 'Box' }, { label: 'Result' }, { label: 'Details' }]}
        bodyClassName="align-top"
        empty={data?.items.length === 0 && 'No events match these filters.'}
      >
        {data?.items.map((e) => (
          <tr key={e.id} data-action={e.action} data-event={e.id}>
            <td className="whitespace-nowrap px-4 py-2 text-slate-600">{formatWhen(e.at)}</td>
            <td className="px-4 py-2">{e.actorEmail ?? <span className="text-slate-500">dashboard</span>}</td>
            <td className="px-4 py-2 font-mono text-xs">{e.action}</td>
            <td className="px-4 py-2">{e.boxName ?? '—'}</td>
            <td className="px-4 py-2">
              <span className={e.result === 'ok' ? 'text-emerald-700' : 'text-red-700'}>{e.result}</span>
              {e.error && <div className="max-w-xs text-xs text-slate-600">{e.error}</div>}
            </td>
            <td className="px-4 py-2">
              <Details detail={e.detail} />
            </td>
          </tr>
        ))}
      </DataTable>
      <nav className="mt-4 flex items-center justify-between text-sm" aria-label="Pages of audit events">
        <Button variant="secondary" disabled={page <= 1} onClick={() => setPage((p) => p - 1)}>
          Newer
        </Button>
        <span className="text-slate-500" data-testid="audit-page">
          {data ? `Page ${data.page} of ${data.pageCount} · ${data.total} events` : ' '}
        </span>
        <Button variant="secondary" disabled={!data || page >= data.pageCount} onClick={() => setPage((p) => p + 1)}>
          Older
        </Button>
      </nav>
    </>
  );
}
