'use client';
import { useState, type FormEvent } from 'react';
import { BlockedReason, Button, Field, Input, Select } from '../ui';

export interface DockerProvisionSettings {
  dockerSource: 'distro' | 'docker-ce';
  daemonJson: { 'log-driver': string; 'log-opts': { 'max-size': string; 'max-file': string } };
}

/** The choices a team lead makes for Docker provisioning; shared by the box page and the fleet's batch action. */
export function ProvisionForm({
  submitLabel,
  pending,
  blocked = null,
  onSubmit,
}: {
  submitLabel: string;
  pending: boolean;
  /** Why provisioning cannot work now (lib/box-actions): the button is disabled and says so. */
  blocked?: string | null;
  onSubmit: (settings: DockerProvisionSettings) => void;
}) {
  const [source, setSource] = useState<'distro' | 'docker-ce'>('distro');
  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    onSubmit({
      dockerSource: source,
      daemonJson: { 'log-driver': 'json-file', 'log-opts': { 'max-size': String(data.get('maxSize')), 'max-file': String(data.get('maxFile')) } },
    });
  }
  return (
    <form onSubmit={submit} className="grid gap-3 sm:grid-cols-4 sm:items-end" aria-label="Provision Docker">
      <Field label="Docker from">
        {(id) => (
          <Select id={id} value={source} onChange={(e) => setSource(e.target.value === 'docker-ce' ? 'docker-ce' : 'distro')}>
            <option value="distro">the distribution (docker.io)</option>
            <option value="docker-ce">Docker&apos;s repository (docker-ce)</option>
          </Select>
        )}
      </Field>
      <Field label="Log file size">{(id) => <Input id={id} name="maxSize" defaultValue="10m" pattern="\d+[kmgKMG]?" required />}</Field>
      <Field label="Log files kept">{(id) => <Input id={id} name="maxFile" type="number" min={1} max={100} defaultValue={3} required />}</Field>
      <Button type="submit" disabled={pending || blocked !== null} title={blocked ?? undefined}>
        {submitLabel}
      </Button>
      {blocked && <BlockedReason reason={blocked} />}
    </form>
  );
}
