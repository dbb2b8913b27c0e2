'use client';
import type { ButtonHTMLAttributes, InputHTMLAttributes, ReactNode, SelectHTMLAttributes, TextareaHTMLAttributes } from 'react';
import Link from 'next/link';
import { useId } from 'react';
import { errorMessage } from '../lib/errors';

/** Small accessible building blocks: every control has a label, errors are announced. */

type ButtonProps = ButtonHTMLAttributes<HTMLButtonElement> & { variant?: 'primary' | 'secondary' | 'danger' | 'ghost' };
const buttonStyles = {
  primary: 'bg-indigo-600 text-white hover:bg-indigo-500 disabled:bg-indigo-300',
  secondary: 'bg-white text-slate-800 ring-1 ring-slate-300 hover:bg-slate-50 disabled:text-slate-400',
  danger: 'bg-red-600 text-white hover:bg-red-500 disabled:bg-red-300',
  ghost: 'text-slate-700 hover:bg-slate-100',
};
export function Button({ variant = 'primary', className = '', ...props }: ButtonProps) {
  return (
    <button
      type="button"
      {...props}
      className={`inline-flex items-center justify-center gap-1.5 rounded-md px-3 py-1.5 text-sm font-medium shadow-sm transition disabled:cursor-not-allowed ${buttonStyles[variant]} ${className}`}
    />
  );
}

export function Field({ label, hint, error, children }: { label: string; hint?: ReactNode; error?: string; children: (id: string, describedBy: string | undefined) => ReactNode }) {
  const id = useId();
  const describedBy = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className="space-y-1">
      <label htmlFor={id} className="block text-sm font-medium text-slate-700">
        {label}
      </label>
      {children(id, describedBy)}
      {hint && (
        <p id={`${id}-hint`} className="text-xs text-slate-500">
          {hint}
        </p>
      )}
      {error && (
        <p id={`${id}-error`} role="alert" className="text-xs text-red-700">
          {error}
        </p>
      )}
    </div>
  );
}

const controlStyles = 'block w-full rounded-md border-0 px-2.5 py-1.5 text-sm ring-1 ring-inset ring-slate-300 focus:ring-2 focus:ring-indigo-500 aria-[invalid=true]:ring-red-500';
export function Input(props: InputHTMLAttributes<HTMLInputElement>) {
  return <input {...props} className={`${controlStyles} ${props.className ?? ''}`} />;
}
export function Textarea(props: TextareaHTMLAttributes<HTMLTextAreaElement>) {
  return <textarea {...props} className={`${controlStyles} font-mono ${props.className ?? ''}`} />;
}
export function Select(props: SelectHTMLAttributes<HTMLSelectElement>) {
  return <select {...props} className={`${controlStyles} bg-white ${props.className ?? ''}`} />;
}

export function Card({ title, actions, children }: { title?: ReactNode; actions?: ReactNode; children: ReactNode }) {
  return (
    <section className="rounded-lg bg-white p-5 shadow-sm ring-1 ring-slate-200">
      {(title || actions) && (
        <div className="mb-4 flex items-center justify-between gap-4">
          {title && <h2 className="text-base font-semibold">{title}</h2>}
          {actions}
        </div>
      )}
      {children}
    </section>
  );
}

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  const message = errorMessage(error);
  return (
    <div role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-800 ring-1 ring-red-200">
      {message}
    </div>
  );
}

/** A page's title and actions; `parent` is the page it sits under (a breadcrumb link before the title). */
export function PageHeader({ title, parent, children }: { title: ReactNode; parent?: { href: string; label: string }; children?: ReactNode }) {
  return (
    <div className="mb-6 flex flex-wrap items-center justify-between gap-3">
      <h1 className="text-xl font-semibold tracking-tight">
        {parent ? (
          <span className="flex items-center gap-3">
            <Link href={parent.href} className="text-slate-400 hover:text-slate-600">
              {parent.label} /
            </Link>
            {title}
          </span>
        ) : (
          title
        )}
      </h1>
      <div className="flex items-center gap-2">{children}</div>
    </div>
  );
}

export function CopyText({ text, label }: { text: string; label: string }) {
  return (
    <div className="flex items-start gap-2">
      <pre className="min-w-0 flex-1 overflow-x-auto rounded-md bg-slate-900 px-3 py-2 text-xs text-slate-100" aria-label={label}>
        {text}
      </pre>
      <Button variant="secondary" onClick={() => void navigator.clipboard?.writeText(text)} aria-label={`Copy ${label}`}>
        Copy
      </Button>
    </div>
  );
}

/** Why the buttons beside it are disabled (an action that cannot work now says why, never just greys out). */
export function BlockedReason({ reason }: { reason: string }) {
  return (
    <p className="text-xs text-amber-800 sm:col-span-full" data-testid="blocked-reason">
      {reason}
    </p>
  );
}
