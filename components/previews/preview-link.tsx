'use client';
import type { ReactNode } from 'react';
import { previewOpenPath } from '../../lib/preview';

/**
 * Opening a box's port in the browser (server/previews): the dashboard's open route checks access and sends the new
 * tab on to the preview with a one-time code. Small and standalone so a list of ports (the Ports card) can reuse it.
 * The tab has no opener: the app in it cannot reach back into the dashboard's window.
 */
export function openPreview(box: string, port: number): void {
  window.open(previewOpenPath({ box, port }), '_blank', 'noopener,noreferrer');
}

export function PreviewLink({ box, port, children }: { box: string; port: number; children?: ReactNode }) {
  return (
    <a
      href={previewOpenPath({ box, port })}
      target="_blank"
      rel="noopener noreferrer"
      className="text-sm font-medium text-indigo-700 hover:underline"
      aria-label={`Open port ${port} of ${box} in a new tab`}
    >
      {children ?? 'Open'}
    </a>
  );
}
