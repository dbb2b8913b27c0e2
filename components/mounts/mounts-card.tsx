'use client';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { mountModes, mountTransports, type MountMode, type MountTransport } from '../../lib/validation';
import { words } from '../../lib/words';
import { useTRPC } from '../trpc';
import { Button, Card, ErrorNote, Input, Select, Textarea } from '../ui';
import { BenchChart } from './bench-chart';

/** The box page's Mounts card: the policy (mounts with per-subdirectory overrides), its guarantees, apply, YAML, measurements. */

interface Draft {
  hostPath: string;
  guestPath: string;
  transport: MountTransport;
  mode: MountMode;
  readOnly: boolean;
  overrides: { subPath: string; mode: MountMode }[];
}

const emptyDraft = (): Draft => ({ hostPath: '', guestPath: '', transport: 'virtiofs', mode: 'cached', readOnly: false, overrides: [] });

const statusColor: Record<string, string> = { holds: 'text-emerald-700', relaxed: 'text-slate-500', weakened: 'text-amber-700', 'not-met': 'text-red-700' };

function MountEditor({ draft, onChange, onRemove }: { draft: Draft; onChange: (d: Draft) => void; onRemove: () => void }) {
  const set = (patch: Partial<Draft>) => onChange({ ...draft, ...patch });
  const remote = ['nfs', 'sshfs', 'mutagen'].includes(draft.transport);
  return (
    <div className="space-y-2 rounded border border-slate-200 p-3">
      <div className="grid gap-2 sm:grid-cols-2">
        <label className="text-xs text-slate-600">
          Guest path
          <Input aria-label="Guest path" value={draft.guestPath} placeholder="/home/dev/app" onChange={(e) => set({ guestPath: e.target.value })} />
        </label>
        <label className="text-xs text-slate-600">
          {remote ? 'Source ([user@]server:/path)' : 'Host path (on the hypervisor host)'}
          <Input aria-label="Host path" value={draft.hostPath} placeholder={remote ? 'ann@laptop:/Users/ann/app' : '/Users/ann/app'} onChange={(e) => set({ hostPath: e.target.value })} />
        </label>
        <label className="text-xs text-slate-600">
          Transport
          <Select aria-label="Transport" value={draft.transport} onChange={(e) => set({ transport: e.target.value as MountTransport })}>
            {mountTransports.map((t) => (
              <option key={t} value={t}>
                {words.mountTransports[t]}
              </option>
            ))}
          </Select>
        </label>
        <label className="text-xs text-slate-600">
          Mode
          <Select aria-label="Mode" value={draft.mode} onChange={(e) => set({ mode: e.target.value as MountMode })}>
            {mountModes.map((m) => (
              <option key={m} value={m}>
                {words.mountModes[m]}
              </option>
            ))}
          </Select>
        </label>
      </div>
      <label className="flex items-center gap-2 text-xs text-slate-600">
        <input type="checkbox" checked={draft.readOnly} onChange={(e) => set({ readOnly: e.target.checked })} /> read-only
      </label>
      <div className="space-y-1">
        <p className="text-xs font-medium text-slate-700">Subdirectories with their own mode</p>
        {draft.overrides.map((o, i) => (
          <div key={i} className="flex gap-2">
            <Input aria-label="Subdirectory" value={o.subPath} placeholder="build" onChange={(e) => set({ overrides: draft.overrides.map((x, j) => (j === i ? { ...x, subPath: e.target.value } : x)) })} />
            <Select aria-label="Subdirectory mode" value={o.mode} onChange={(e) => set({ overrides: draft.overrides.map((x, j) => (j === i ? { ...x, mode: e.target.value as MountMode } : x)) })}>
              {mountModes.map((m) => (
                <option key={m} value={m}>
                {words.mountModes[m]}
              </option>
              ))}
            </Select>
            <Button variant="secondary" onClick={() => set({ overrides: draft.overrides.filter((_, j) => j !== i) })}>
              Remove
            </Button>
          </div>
        ))}
        <Button variant="secondary" onClick={() => set({ overrides: [...draft.overrides, { subPath: '', mode: 'delegated' }] })}>
          Add subdirectory
        </Button>
      </div>
      <Button variant="danger" onClick={onRemove}>
        Remove mount
      </Button>
    </div>
  );
}

export function MountsCard({ boxId }: { boxId: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const data = useQuery({ ...trpc.mounts.get.queryOptions({ boxId }), refetchInterval: 10_000 });
  const invalidate = () => queryClient.invalidateQueries({ queryKey: trpc.mounts.pathKey() });
  const [drafts, setDrafts] = useState<Draft[] | null>(null);
  const [yaml, setYaml] = useState<string | null>(null);
  const save = useMutation(trpc.mounts.save.mutationOptions({ onSuccess: () => { setDrafts(null); void invalidate(); } }));
  const importYaml = useMutation(trpc.mounts.importYaml.mutationOptions({ onSuccess: () => { setYaml(null); void invalidate(); } }));
  const apply = useMutation(trpc.mounts.applyPolicy.mutationOptions({ onSuccess: ({ jobId }) => router.push(`/jobs/${jobId}`) }));
  const measure = useMutation(trpc.mounts.measure.mutationOptions({ onSuccess: ({ jobId }) => router.push(`/jobs/${jobId}`) }));
  const writeBack = useMutation(trpc.mounts.writeBack.mutationOptions({ onSettled: () => void invalidate() }));
  const exported = useQuery({ ...trpc.mounts.exportYaml.queryOptions({ boxId }), enabled: false });

  if (data.error) return <Card title="Mounts"><ErrorNote error={data.error} /></Card>;
  if (!data.data) return <Card title="Mounts"><p className="text-sm text-slate-500">Loading…</p></Card>;
  const d = data.data;
  const hasDelegated = d.mounts.some((m) => m.spec.mode === 'delegated' || m.spec.overrides.some((o) => o.mode === 'delegated'));

  return (
    <Card
      title="Mounts"
      actions={
        d.canEdit && (
          <div className="flex flex-wrap gap-2">
            <Button variant="secondary" onClick={() => setDrafts(d.mounts.map((m) => ({ ...m.spec, overrides: [...m.spec.overrides] })))}>Edit</Button>
            <Button variant="secondary" onClick={() => setYaml('')}>Import YAML</Button>
            <Button variant="secondary" onClick={async () => { const r = await exported.refetch(); if (r.data) setYaml(r.data.yaml); }}>Export YAML</Button>
            <Button disabled={apply.isPending || !d.mounts.length} onClick={() => apply.mutate({ boxId })}>Apply</Button>
            <Button variant="secondary" disabled={measure.isPending || !d.mounts.length} onClick={() => measure.mutate({ boxId, ddBlocks: 100_000, treeDirs: 50, treeFilesPerDir: 60, mixFiles: 2_000, local: true })}>Measure</Button>
            {hasDelegated && <Button variant="secondary" disabled={writeBack.isPending} onClick={() => writeBack.mutate({ boxId })}>Write back now</Button>}
          </div>
        )
      }
    >
      <ErrorNote error={apply.error ?? measure.error ?? writeBack.error} />
      {writeBack.data && <p className="text-sm text-emerald-700">Written back: {writeBack.data.written.join(', ') || 'nothing to write back'}</p>}
      {d.policyError && <p className="text-sm text-red-700 whitespace-pre-wrap">{d.policyError}</p>}
      {drafts ? (
        <div className="space-y-3">
          {drafts.map((draft, i) => (
            <MountEditor key={i} draft={draft} onChange={(next) => setDrafts(drafts.map((x, j) => (j === i ? next : x)))} onRemove={() => setDrafts(drafts.filter((_, j) => j !== i))} />
          ))}
          <div className="flex gap-2">
            <Button variant="secondary" onClick={() => setDrafts([...drafts, emptyDraft()])}>Add mount</Button>
            <Button disabled={save.isPending} onClick={() => save.mutate({ boxId, mounts: drafts })}>Save policy</Button>
            <Button variant="secondary" onClick={() => setDrafts(null)}>Cancel</Button>
          </div>
          <ErrorNote error={save.error} />
        </div>
      ) : yaml !== null ? (
        <div className="space-y-2">
          <p className="text-xs text-slate-600">boxyard.mounts.yaml — keep it in the project&apos;s repository. Importing replaces this box&apos;s policy.</p>
          <Textarea aria-label="boxyard.mounts.yaml" rows={12} className="font-mono text-xs" value={yaml} onChange={(e) => setYaml(e.target.value)} />
          <div className="flex gap-2">
            <Button disabled={importYaml.isPending} onClick={() => importYaml.mutate({ boxId, yaml })}>Import</Button>
            <Button variant="secondary" onClick={() => setYaml(null)}>Close</Button>
          </div>
          <ErrorNote error={importYaml.error} />
        </div>
      ) : d.mounts.length === 0 ? (
        <p className="text-sm text-slate-500">No mounts. Share a folder from the host with a consistency mode: consistent, cached (host authoritative) or delegated (box authoritative, written back on stop).</p>
      ) : (
        <ul className="space-y-3">
          {d.mounts.map((m) => (
            <li key={m.id} className="rounded border border-slate-200 p-3 text-sm">
              <div className="flex flex-wrap items-center gap-2">
                <code className="font-semibold">{m.spec.guestPath}</code>
                <span className="text-slate-500">← {m.spec.hostPath}</span>
                <span className="rounded bg-slate-100 px-1.5 text-xs">{words.mountTransports[m.spec.transport]}</span>
                <span className="rounded bg-indigo-50 px-1.5 text-xs text-indigo-800">{m.spec.mode}</span>
                {m.spec.readOnly && <span className="text-xs text-slate-500">read-only</span>}
                <span className={`text-xs ${m.status === 'applied' ? 'text-emerald-700' : m.status === 'failed' ? 'text-red-700' : 'text-slate-500'}`}>{m.status}</span>
              </div>
              {m.lastError && <p className="mt-1 whitespace-pre-wrap text-xs text-red-700">{m.lastError}</p>}
              {m.entries.map((entry) => (
                <details key={entry.key} className="mt-2" open={entry.level === 'weakened'}>
                  <summary className="cursor-pointer text-xs">
                    <code>{entry.guestPath}</code> {entry.mode} — {entry.level === 'full' ? <span className="text-emerald-700">every guarantee holds</span> : <span className="text-amber-700">some guarantees are weakened</span>}
                  </summary>
                  <ul className="ml-4 mt-1 space-y-0.5 text-xs">
                    {entry.guarantees.map((g) => (
                      <li key={g.id}>
                        <span className={`font-medium ${statusColor[g.status]}`}>{g.status}</span> <span className="text-slate-500">({g.rule})</span> {g.text}
                      </li>
                    ))}
                  </ul>
                  <pre className="mt-1 overflow-x-auto rounded bg-slate-50 p-2 text-[11px]">{[entry.host.text, ...entry.units.map((u) => `${u.unitName}: ${u.type} ${u.what} -> ${u.where} (${u.options})`)].filter(Boolean).join('\n')}</pre>
                </details>
              ))}
              {m.recommendations.length > 0 && (
                <p className="mt-2 text-xs text-slate-600">
                  Recommended: {m.recommendations.map((r) => `${r.guestPath} → ${r.mode} (${r.why})`).join('; ')}
                </p>
              )}
            </li>
          ))}
        </ul>
      )}
      {d.compose && !drafts && yaml === null && (
        <details className="mt-3 text-xs">
          <summary className="cursor-pointer">docker compose override (Docker Desktop flags)</summary>
          <pre className="mt-1 overflow-x-auto rounded bg-slate-50 p-2">{d.compose}</pre>
        </details>
      )}
      <div className="mt-4">
        <h3 className="mb-1 text-sm font-medium">Measured on this box</h3>
        <BenchChart runs={d.runs} />
      </div>
    </Card>
  );
}
