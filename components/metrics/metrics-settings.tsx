'use client';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useTRPC } from '../trpc';
import { Button, CopyText, ErrorNote, Input, Select } from '../ui';

const FIELDS = [
  ['idleCpuPct', 'Idle below CPU %'],
  ['idleWindowS', 'Idle window (s)'],
  ['containerBusyPct', 'Busy container above % of a core'],
  ['suspendWarningS', 'Warning before suspend (s)'],
  ['slowIntervalS', 'Sampling interval (s)'],
  ['fastIntervalS', 'Interval while viewed (s)'],
  ['busyWatts', 'Estimate: W per busy core'],
  ['vpsCostPerHour', 'Estimate: VPS cost per hour'],
] as const;

/** Admin: idle thresholds, sampling, estimates, suspend policies per box or tag, and the /metrics token. */
export function MetricsSettingsPanel() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const settings = useQuery({ ...trpc.metrics.settings.queryOptions(), enabled: open });
  const policies = useQuery({ ...trpc.metrics.policies.queryOptions(), enabled: open });
  const boxes = useQuery({ ...trpc.boxes.list.queryOptions({}), enabled: open });
  const invalidate = () => queryClient.invalidateQueries({ queryKey: trpc.metrics.pathKey() });
  const update = useMutation(trpc.metrics.updateSettings.mutationOptions({ onSuccess: invalidate }));
  const savePolicy = useMutation(trpc.metrics.savePolicy.mutationOptions({ onSuccess: invalidate }));
  const deletePolicy = useMutation(trpc.metrics.deletePolicy.mutationOptions({ onSuccess: invalidate }));
  const rotate = useMutation(trpc.metrics.rotateToken.mutationOptions({ onSuccess: invalidate }));
  const [draft, setDraft] = useState<Record<string, string>>({});
  const [target, setTarget] = useState('');
  const [minutes, setMinutes] = useState('30');
  const [action, setAction] = useState<'suspend' | 'power-off' | 'none'>('suspend');

  if (!open) {
    return (
      <button type="button" className="mt-2 text-xs text-indigo-700 hover:underline" onClick={() => setOpen(true)}>
        Idle and auto-suspend settings…
      </button>
    );
  }
  const current = settings.data?.settings;
  return (
    <div className="mt-3 space-y-4 border-t border-slate-100 pt-3" data-testid="metrics-settings">
      {current && (
        <form
          className="grid grid-cols-2 gap-3 sm:grid-cols-4"
          onSubmit={(e) => {
            e.preventDefault();
            const patch = Object.fromEntries(Object.entries(draft).filter(([, v]) => v !== '').map(([k, v]) => [k, Number(v)]));
            update.mutate(patch, { onSuccess: () => setDraft({}) });
          }}
        >
          {FIELDS.map(([key, label]) => (
            <label key={key} className="text-xs text-slate-600">
              {label}
              <Input type="number" step="any" value={draft[key] ?? String(current[key])} onChange={(e) => setDraft({ ...draft, [key]: e.target.value })} />
            </label>
          ))}
          <div className="col-span-full">
            <Button type="submit" disabled={update.isPending}>
              Save settings
            </Button>
            <ErrorNote error={update.error} />
          </div>
        </form>
      )}
      <div>
        <h3 className="text-sm font-medium">Auto-suspend policies</h3>
        <ul className="mt-1 space-y-1 text-sm">
          {policies.data?.map((p) => (
            <li key={p.id} className="flex items-center gap-2">
              <span>
                {p.boxId ? `box ${p.boxName ?? p.boxId}` : `tag ${p.tag}`}: {p.action} after {p.idleMinutes} idle min{p.enabled ? '' : ' (disabled)'}
              </span>
              <button type="button" className="text-xs text-red-700 hover:underline" onClick={() => deletePolicy.mutate({ id: p.id })}>
                remove
              </button>
            </li>
          ))}
          {policies.data?.length === 0 && <li className="text-slate-500">None: nothing is suspended automatically.</li>}
        </ul>
        <form
          className="mt-2 flex flex-wrap items-end gap-2"
          onSubmit={(e) => {
            e.preventDefault();
            const [kind, value] = target.split(':', 2) as [string, string];
            savePolicy.mutate({ ...(kind === 'box' ? { boxId: value } : { tag: value }), idleMinutes: Number(minutes), action, enabled: true });
          }}
        >
          <Select aria-label="Policy applies to" value={target} onChange={(e) => setTarget(e.target.value)} className="max-w-56">
            <option value="">Box or tag…</option>
            {boxes.data?.map((b) => (
              <option key={b.id} value={`box:${b.id}`}>
                box {b.name}
              </option>
            ))}
            {[...new Set(boxes.data?.flatMap((b) => b.tags) ?? [])].map((t) => (
              <option key={t} value={`tag:${t}`}>
                tag {t}
              </option>
            ))}
          </Select>
          <Input aria-label="Idle minutes" type="number" min={1} value={minutes} onChange={(e) => setMinutes(e.target.value)} className="w-24" />
          <Select aria-label="Action" value={action} onChange={(e) => setAction(e.target.value as typeof action)} className="w-40">
            <option value="suspend">suspend (VM)</option>
            <option value="power-off">power off (VPS)</option>
            <option value="none">nothing</option>
          </Select>
          <Button type="submit" disabled={!target || savePolicy.isPending}>
            Save policy
          </Button>
        </form>
        <ErrorNote error={savePolicy.error ?? deletePolicy.error} />
      </div>
      <div>
        <h3 className="text-sm font-medium">Prometheus</h3>
        <p className="text-xs text-slate-600">
          GET /metrics with <code>Authorization: Bearer TOKEN</code>. {settings.data?.prometheusTokenSet ? 'A token is set.' : 'No token yet: the endpoint refuses every scrape.'}
        </p>
        <Button variant="secondary" className="mt-1" onClick={() => rotate.mutate()} disabled={rotate.isPending}>
          {settings.data?.prometheusTokenSet ? 'Rotate token' : 'Create token'}
        </Button>
        {rotate.data && (
          <div className="mt-2">
            <CopyText text={rotate.data.token} label="Copy the token (shown once)" />
          </div>
        )}
        <ErrorNote error={rotate.error} />
      </div>
    </div>
  );
}
