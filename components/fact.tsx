import type { ReactNode } from 'react';

/** One labelled value in a definition list (box and host pages); `data-fact` lets tests find it by label. */
export function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div>
      <dt className="text-xs uppercase tracking-wide text-slate-500">{label}</dt>
      <dd className="mt-0.5 text-sm" data-fact={label}>
        {children}
      </dd>
    </div>
  );
}
