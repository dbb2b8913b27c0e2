'use client';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { useTRPC } from '../trpc';
import { Button, Card, CopyText, ErrorNote, Field, Input, Select } from '../ui';
import { openPreview, PreviewLink } from './preview-link';

const levelText = { authenticated: 'every signed-in user', public: 'anyone with the link' } as const;

/**
 * The box page's Previews card: a port opened in the browser through the dashboard, and (for the box's owner and
 * admins) who else may open which port. Without a wildcard preview domain it states the path form's limits.
 */
export function PreviewsCard({ boxId, boxName, mayShare }: { boxId: string; boxName: string; mayShare: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const settings = useQuery(trpc.previews.settings.queryOptions());
  const shares = useQuery(trpc.previews.shares.queryOptions({ boxId }));
  const invalidate = () => queryClient.invalidateQueries({ queryKey: trpc.previews.shares.queryKey({ boxId }) });
  const share = useMutation(trpc.previews.share.mutationOptions({ onSettled: invalidate }));
  const revoke = useMutation(trpc.previews.revoke.mutationOptions({ onSettled: invalidate }));
  const [port, setPort] = useState('3000');
  const [level, setLevel] = useState<'authenticated' | 'public'>('authenticated');
  const portNumber = /^[1-9]\d{0,4}$/.test(port) && Number(port) <= 65535 ? Number(port) : null;

  function open(event: FormEvent) {
    event.preventDefault();
    if (portNumber !== null) openPreview(boxName, portNumber);
  }

  return (
    <Card title="Previews">
      <div className="space-y-4">
        <form onSubmit={open} className="flex flex-wrap items-end gap-2" aria-label="Open a port in the browser">
          <Field label="Port" error={port && portNumber === null ? 'A port is a number from 1 to 65535.' : undefined}>
            {(id, describedBy) => (
              <Input id={id} value={port} onChange={(event) => setPort(event.target.value.trim())} inputMode="numeric" className="w-28" aria-describedby={describedBy} aria-invalid={port !== '' && portNumber === null} />
            )}
          </Field>
          <Button type="submit" disabled={portNumber === null}>
            Open
          </Button>
          {mayShare && (
            <>
              <Field label="Share with">
                {(id) => (
                  <Select id={id} value={level} onChange={(event) => setLevel(event.target.value === 'public' ? 'public' : 'authenticated')} className="w-56">
                    <option value="authenticated">{levelText.authenticated}</option>
                    <option value="public" disabled={!settings.data?.publicSharing}>
                      {levelText.public}
                      {settings.data?.publicSharing ? '' : ' (off: an admin allows it)'}
                    </option>
                  </Select>
                )}
              </Field>
              <Button variant="secondary" disabled={portNumber === null || share.isPending} onClick={() => portNumber !== null && share.mutate({ boxId, port: portNumber, level })}>
                Share port
              </Button>
            </>
          )}
        </form>
        <ErrorNote error={shares.error ?? share.error ?? revoke.error} />

        {settings.data && !settings.data.domain && (
          <p className="text-xs text-slate-600" data-testid="path-form-limits">
            Previews open under <code>/preview/{boxName}/PORT/</code> on this dashboard (no wildcard preview domain is set), so: links that start with
            <code> /</code> (such as <code>/assets/app.js</code>) leave the preview; the page runs sandboxed, without <code>document.cookie</code>,
            local storage or service workers; and its preview cookie needs https (or <code>localhost</code>) in the browser. An admin can set
            <code> BOXYARD_PREVIEW_DOMAIN</code> to give each port its own origin.
          </p>
        )}

        {shares.data && shares.data.length > 0 ? (
          <ul className="divide-y divide-slate-100 text-sm" aria-label="Shared ports">
            {shares.data.map((row) => (
              <li key={row.port} className="space-y-2 py-2" data-testid={`share-${row.port}`}>
                <div className="flex items-center justify-between gap-3">
                  <span>
                    Port <span className="font-mono">{row.port}</span>: {levelText[row.level]}
                  </span>
                  <span className="flex items-center gap-3">
                    <PreviewLink box={boxName} port={row.port} />
                    {mayShare && (
                      <Button variant="ghost" disabled={revoke.isPending} onClick={() => revoke.mutate({ boxId, port: row.port })} aria-label={`Stop sharing port ${row.port}`}>
                        Revoke
                      </Button>
                    )}
                  </span>
                </div>
                {row.link && <CopyText text={row.link} label={`public link to port ${row.port}`} />}
              </li>
            ))}
          </ul>
        ) : (
          shares.data && <p className="text-sm text-slate-500">No port is shared: only the box&apos;s owner, its members and admins may open its previews.</p>
        )}
      </div>
    </Card>
  );
}
