'use client';
import * as AlertDialog from '@radix-ui/react-alert-dialog';
import { useId, useState, type ReactNode } from 'react';
import { Button, Input } from './ui';

/**
 * The one confirmation of the dashboard (never the browser's own confirm box): a Radix alert dialog that names what is destroyed,
 * traps focus, closes on Escape and puts focus on Cancel first. With `typeToConfirm` the confirm button stays
 * disabled until that name is typed back (reboot, power-off, deleting a box or a host).
 *
 * Either give a `trigger` (the button that opens it) or control it with `open` and `onOpenChange`.
 */
export function ConfirmDialog({
  trigger,
  open,
  onOpenChange,
  title,
  description,
  confirmLabel,
  typeToConfirm,
  destructive = true,
  onConfirm,
}: {
  trigger?: ReactNode;
  open?: boolean;
  onOpenChange?: (open: boolean) => void;
  title: string;
  /** What happens, and what is kept. */
  description: ReactNode;
  confirmLabel: string;
  typeToConfirm?: string;
  destructive?: boolean;
  onConfirm: (typed: string) => void;
}) {
  const [typed, setTyped] = useState('');
  const inputId = useId();
  const ready = typeToConfirm === undefined || typed === typeToConfirm;
  return (
    <AlertDialog.Root
      open={open}
      onOpenChange={(next) => {
        if (!next) setTyped('');
        onOpenChange?.(next);
      }}
    >
      {trigger && <AlertDialog.Trigger asChild>{trigger}</AlertDialog.Trigger>}
      <AlertDialog.Portal>
        <AlertDialog.Overlay className="fixed inset-0 z-40 bg-slate-900/40" />
        <AlertDialog.Content className="fixed left-1/2 top-1/2 z-50 w-[calc(100vw-2rem)] max-w-md -translate-x-1/2 -translate-y-1/2 rounded-lg bg-white p-5 shadow-lg ring-1 ring-slate-200 focus:outline-none">
          <AlertDialog.Title className="text-base font-semibold">{title}</AlertDialog.Title>
          <AlertDialog.Description asChild>
            <div className="mt-2 text-sm text-slate-600">{description}</div>
          </AlertDialog.Description>
          <form
            className="mt-4 space-y-4"
            onSubmit={(event) => {
              event.preventDefault();
              if (!ready) return;
              onConfirm(typed);
              setTyped('');
              onOpenChange?.(false);
            }}
          >
            {typeToConfirm !== undefined && (
              <div className="space-y-1">
                <label htmlFor={inputId} className="block text-sm font-medium text-slate-700">
                  Type <span className="font-mono">{typeToConfirm}</span> to confirm
                </label>
                <Input id={inputId} value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" spellCheck={false} />
              </div>
            )}
            <div className="flex justify-end gap-2">
              <AlertDialog.Cancel asChild>
                <Button variant="secondary">Cancel</Button>
              </AlertDialog.Cancel>
              {/* Not AlertDialog.Action: that closes the dialog before the form is submitted. */}
              <Button type="submit" variant={destructive ? 'danger' : 'primary'} disabled={!ready}>
                {confirmLabel}
              </Button>
            </div>
          </form>
        </AlertDialog.Content>
      </AlertDialog.Portal>
    </AlertDialog.Root>
  );
}
