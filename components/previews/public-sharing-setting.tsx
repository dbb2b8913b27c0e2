'use client';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTRPC } from '../trpc';
import { Card, ErrorNote } from '../ui';

/** Admin: whether box owners may share a port publicly (anyone with the link). Turning it off ends those links' previews. */
export function PublicSharingSetting() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const settings = useQuery(trpc.previews.settings.queryOptions());
  const update = useMutation(trpc.previews.setPublicSharing.mutationOptions({ onSettled: () => queryClient.invalidateQueries({ queryKey: trpc.previews.pathKey() }) }));
  return (
    <Card title="Preview sharing">
      <label className="flex items-start gap-2 text-sm text-slate-700">
        <input
          type="checkbox"
          className="mt-0.5"
          checked={settings.data?.publicSharing ?? false}
          disabled={!settings.data || update.isPending}
          onChange={(event) => update.mutate({ allowed: event.target.checked })}
        />
        <span>
          Allow public links: a box&apos;s owner may then share a port with anyone who has its link, signed in or not. Turning this off closes
          every such preview at once (the shares stay, and work again if it is turned back on).
        </span>
      </label>
      <ErrorNote error={settings.error ?? update.error} />
    </Card>
  );
}
