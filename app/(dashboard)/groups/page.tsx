'use client';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { ConfirmDialog } from '../../../components/confirm-dialog';
import { useTRPC } from '../../../components/trpc';
import { Button, Card, ErrorNote, Field, Input, PageHeader } from '../../../components/ui';

type Group = { id: string; name: string; source: 'provider' | 'manual'; members: { id: string; email: string }[]; boxes: { id: string; name: string }[]; tags: string[] };

/** A row of checkboxes choosing some of `options` by id. */
function Checkboxes({ options, checked, onChange }: { options: { id: string; label: string }[]; checked: string[]; onChange: (ids: string[]) => void }) {
  const toggle = (id: string) => onChange(checked.includes(id) ? checked.filter((entry) => entry !== id) : [...checked, id]);
  return (
    <div className="flex flex-wrap gap-3 text-sm">
      {options.map((option) => (
        <label key={option.id} className="flex items-center gap-1">
          <input type="checkbox" checked={checked.includes(option.id)} onChange={() => toggle(option.id)} />
          {option.label}
        </label>
      ))}
    </div>
  );
}

/** One group: the boxes and tags it reaches, and (an admin's group) its members; a provider's members come from sign-ins. */
function GroupCard({ group, boxes, users }: { group: Group; boxes: { id: string; name: string }[]; users: { id: string; email: string }[] }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const invalidate = () => queryClient.invalidateQueries({ queryKey: trpc.groups.list.queryKey() });
  const save = useMutation(trpc.groups.save.mutationOptions({ onSettled: invalidate }));
  const remove = useMutation(trpc.groups.delete.mutationOptions({ onSettled: invalidate }));
  const [boxIds, setBoxIds] = useState(group.boxes.map((box) => box.id));
  const [memberIds, setMemberIds] = useState(group.members.map((member) => member.id));
  const [tags, setTags] = useState(group.tags.join(', '));

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    save.mutate({ id: group.id, boxIds, memberIds, tags: tags.split(/[\s,]+/).filter(Boolean) });
  }

  return (
    <Card
      title={`${group.name} · ${group.source === 'provider' ? 'from the identity provider' : 'made here'}`}
      actions={
        <ConfirmDialog
          trigger={<Button variant="ghost">Delete</Button>}
          title={`Delete the group ${group.name}?`}
          description="Its members lose the boxes and tags it gave them."
          confirmLabel="Delete group"
          onConfirm={() => remove.mutate({ id: group.id })}
        />
      }
    >
      <form onSubmit={submit} className="space-y-3" aria-label={`Group ${group.name}`}>
        <Field label="Tags" hint='Every box with one of these tags, e.g. "payments".'>
          {(id, d) => <Input id={id} value={tags} onChange={(e) => setTags(e.target.value)} aria-describedby={d} />}
        </Field>
        <fieldset>
          <legend className="mb-1 text-sm font-medium">Boxes</legend>
          <Checkboxes options={boxes.map((box) => ({ id: box.id, label: box.name }))} checked={boxIds} onChange={setBoxIds} />
        </fieldset>
        <fieldset>
          <legend className="mb-1 text-sm font-medium">Members</legend>
          {group.source === 'provider' ? (
            <p className="text-sm text-slate-600">{group.members.map((member) => member.email).join(', ') || 'Nobody yet.'} (set by the provider at each sign-in)</p>
          ) : (
            <Checkboxes options={users.map((user) => ({ id: user.id, label: user.email }))} checked={memberIds} onChange={setMemberIds} />
          )}
        </fieldset>
        <ErrorNote error={save.error ?? remove.error} />
        <Button type="submit" disabled={save.isPending}>
          Save
        </Button>
      </form>
    </Card>
  );
}

/** Admins: groups give access by team, to boxes by name or by tag. */
export default function GroupsPage() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const groups = useQuery(trpc.groups.list.queryOptions());
  const boxes = useQuery(trpc.boxes.list.queryOptions({}));
  const users = useQuery(trpc.users.list.queryOptions());
  const create = useMutation(trpc.groups.create.mutationOptions({ onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.groups.list.queryKey() }) }));

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    create.mutate({ name: String(new FormData(form).get('name')) }, { onSuccess: () => form.reset() });
  }

  return (
    <>
      <PageHeader title="Groups" />
      <div className="grid gap-6 lg:grid-cols-3">
        <div className="space-y-6 lg:col-span-2">
          <ErrorNote error={groups.error} />
          {groups.data?.map((group) => (
            <GroupCard key={`${group.id}:${group.boxes.length}:${group.tags.join()}:${group.members.length}`} group={group} boxes={boxes.data ?? []} users={users.data ?? []} />
          ))}
          {groups.data?.length === 0 && <p className="text-sm text-slate-500">No groups yet: make one, or sign in through the identity provider with a groups claim.</p>}
        </div>
        <Card title="Make a group">
          <form onSubmit={submit} className="space-y-3" aria-label="Make a group">
            <Field label="Name">{(id) => <Input id={id} name="name" required maxLength={200} placeholder="team-payments" />}</Field>
            <ErrorNote error={create.error} />
            <Button type="submit" disabled={create.isPending}>
              Make group
            </Button>
          </form>
        </Card>
      </div>
    </>
  );
}
