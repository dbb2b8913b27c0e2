'use client';
import { TRPCClientError } from '@trpc/client';
import { useState } from 'react';
import type { z } from 'zod';

/**
 * Per-field messages for a form, from the shared zod rules before sending and from the server's answer after: the
 * same rules run in both places (lib/validation.ts), so both speak of the same fields.
 */
export function useFieldErrors() {
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  return {
    fieldErrors,
    err: (key: string): string | undefined => fieldErrors[key],
    invalid: (key: string): true | undefined => (fieldErrors[key] ? true : undefined),
    /** The parsed input, or null after showing what to fix. */
    check<S extends z.ZodType>(schema: S, input: unknown): z.output<S> | null {
      const checked = schema.safeParse(input);
      if (!checked.success) {
        setFieldErrors(Object.fromEntries(checked.error.issues.map((issue) => [issue.path.join('.'), issue.message])));
        return null;
      }
      setFieldErrors({});
      return checked.data;
    },
    /** Shows the server's per-field messages of a failed mutation (tRPC's errorFormatter sends them). */
    fromServer(error: unknown): void {
      if (error instanceof TRPCClientError && error.data?.fieldErrors) setFieldErrors(error.data.fieldErrors as Record<string, string>);
    },
  };
}
