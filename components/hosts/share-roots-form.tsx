'use client';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useTRPC } from '../trpc';
import { Button, Card, ErrorNote, Field, Textarea } from '../ui';

/**
 * The folders of a hypervisor host that box owners may share into their VMs (9p, virtiofs, Parallels): one root
 * per line, `*` and `?` match within one folder name. None by default; the apply job checks each folder's real path
 * on the host against these roots before it attaches anything.
 */
export function ShareRootsForm({ hostId, hostName, roots }: { hostId: string; hostName: string; roots: readonly string[] }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [text, setText] = useState(roots.join('\n'));
  const save = useMutation(
    trpc.hosts.setShareRoots.mutationOptions({
      onSuccess: (host) => {
        setText(host.shareRoots.join('\n'));
        return queryClient.invalidateQueries({ queryKey: trpc.hosts.get.queryKey({ id: hostId }) });
      },
    }),
  );
  const lines = text.split('\n').map((line) => line.trim()).filter(Boolean);
  return (
    <Card title="Folders box owners may share">
      <form
        className="space-y-3"
        onSubmit={(event) => {
          event.preventDefault();
          save.mutate({ id: hostId, roots: lines });
        }}
      >
        <Field
          label="Allowed roots"
          hint={`One absolute folder of ${hostName} per line, e.g. /Users/*/src (* and ? match within one folder name). A mount on a VM of this host may share a root or a folder under it, nothing else; symlinks are resolved on the host. Empty: no folder may be shared.`}
        >
          {(id, describedBy) => <Textarea id={id} aria-describedby={describedBy} rows={4} value={text} onChange={(event) => setText(event.target.value)} placeholder="/Users/*/src" />}
        </Field>
        <ErrorNote error={save.error} />
        <div className="flex items-center gap-3">
          <Button type="submit" disabled={save.isPending}>
            {save.isPending ? 'Saving…' : 'Save allowed roots'}
          </Button>
          {save.isSuccess && !save.isPending && <span className="text-sm text-slate-600">Saved.</span>}
        </div>
      </form>
    </Card>
  );
}
