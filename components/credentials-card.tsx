'use client';
import { useQuery } from '@tanstack/react-query';
import type { z } from 'zod';
import type { boxAuth } from '../lib/validation';
import { useTRPC } from './trpc';
import { Card, CopyText, Field, Input, Textarea } from './ui';

export type AuthMethod = z.output<typeof boxAuth>['method'];

/** The credentials part of a form (names privateKey, passphrase, password), as the API wants them. */
export function readCredentials(data: FormData, method: AuthMethod): z.input<typeof boxAuth> {
  const text = (key: string) => String(data.get(key) ?? '');
  if (method === 'password') return { method, password: text('password') };
  if (method === 'private-key') return { method, privateKey: text('privateKey'), passphrase: text('passphrase') || undefined };
  return { method };
}

const methods = [
  ['dashboard-key', "The dashboard's key (recommended)"],
  ['private-key', 'An imported private key'],
  ['password', 'A password'],
] as const;

/** How the dashboard signs in to a box or a host; shared by the add-box and add-host forms. */
export function CredentialsCard({
  method,
  onMethodChange,
  fieldErrors,
  machine,
}: {
  method: AuthMethod;
  onMethodChange: (method: AuthMethod) => void;
  fieldErrors: Record<string, string>;
  /** "box" or "host", in the instructions. */
  machine: string;
}) {
  const trpc = useTRPC();
  const publicKey = useQuery(trpc.settings.dashboardPublicKey.queryOptions());
  const err = (key: string) => fieldErrors[key];
  const invalid = (key: string) => (fieldErrors[key] ? true : undefined);
  return (
    <Card title="Credentials">
      <fieldset className="space-y-3">
        <legend className="sr-only">How the dashboard signs in</legend>
        {methods.map(([value, label]) => (
          <label key={value} className="flex items-center gap-2 text-sm">
            <input type="radio" name="authMethod" value={value} checked={method === value} onChange={() => onMethodChange(value)} />
            {label}
          </label>
        ))}
      </fieldset>
      <div className="mt-4 space-y-4">
        {method === 'dashboard-key' && publicKey.data && (
          <div className="space-y-2 text-sm text-slate-600">
            <p>Add this line to the {machine} user&apos;s ~/.ssh/authorized_keys:</p>
            <CopyText text={publicKey.data.publicKey} label="dashboard public key" />
          </div>
        )}
        {method === 'private-key' && (
          <>
            <Field label="Private key" hint="OpenSSH or PEM format. Stored encrypted; never shown again." error={err('auth.privateKey')}>
              {(id, d) => <Textarea id={id} name="privateKey" rows={6} aria-invalid={invalid('auth.privateKey')} aria-describedby={d} placeholder="-----BEGIN OPENSSH PRIVATE KEY-----" />}
            </Field>
            <Field label="Passphrase (if the key has one)">{(id) => <Input id={id} name="passphrase" type="password" autoComplete="off" />}</Field>
          </>
        )}
        {method === 'password' && (
          <Field label="Password" hint="Stored encrypted; never shown again." error={err('auth.password')}>
            {(id, d) => <Input id={id} name="password" type="password" autoComplete="off" aria-invalid={invalid('auth.password')} aria-describedby={d} />}
          </Field>
        )}
      </div>
    </Card>
  );
}
