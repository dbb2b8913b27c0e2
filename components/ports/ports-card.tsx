'use client';
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { forwardCommandLine, portAddressText, portOwnerText, type ListeningPort } from '../../lib/ports';
import { DataTable } from '../data-table';
import { PreviewLink } from '../previews/preview-link';
import { useTRPC } from '../trpc';
import { Button, Card, ErrorNote } from '../ui';

/** Copies `boxyard forward NAME PORT`, and says so for a moment. */
function CopyForwardButton({ boxName, port }: { boxName: string; port: number }) {
  const [copied, setCopied] = useState(false);
  const line = forwardCommandLine(boxName, port);
  return (
    <Button
      variant="secondary"
      title={line}
      aria-label={`Copy ${line}`}
      onClick={() => {
        void navigator.clipboard?.writeText(line).then(() => {
          setCopied(true);
          setTimeout(() => setCopied(false), 1_500);
        });
      }}
    >
      {copied ? 'Copied' : 'Copy forward'}
    </Button>
  );
}

/** What one can do with a port: open it in the browser (a preview, server/previews) or copy the forward line. */
function PortActions({ boxName, port }: { boxName: string; port: ListeningPort }) {
  return (
    <div className="flex items-center justify-end gap-3">
      <PreviewLink box={boxName} port={port.port} />
      <CopyForwardButton boxName={boxName} port={port.port} />
    </div>
  );
}

/**
 * The box's listening TCP ports, live: the box's sampler reports a change within a sample (server/metrics/ports.ts);
 * the card asks every 2 s, as the metrics card does.
 */
export function PortsCard({ boxId, boxName }: { boxId: string; boxName: string }) {
  const trpc = useTRPC();
  const ports = useQuery({ ...trpc.metrics.ports.queryOptions({ boxId }), refetchInterval: 2_000 });
  const list = ports.data?.ports;
  return (
    <Card title="Ports">
      <ErrorNote error={ports.error} />
      {ports.data && list === null && (
        <p className="text-sm text-slate-500" data-testid="ports-unknown">
          Not known yet: the box&apos;s sampler has not reported its ports (it has not been reached, or its connection is down).
        </p>
      )}
      {list && (
        <DataTable
          label="Listening ports"
          columns={[{ label: 'Port' }, { label: 'Address' }, { label: 'What listens' }, { label: 'Actions', srOnly: true }]}
          empty={list.length ? undefined : 'Nothing listens on a TCP port of this box.'}
        >
          {list.map((port) => (
            <tr key={port.port} data-testid={`port-${port.port}`}>
              <td className="px-4 py-2 font-mono">{port.port}</td>
              <td className="px-4 py-2">{portAddressText(port.address)}</td>
              <td className="px-4 py-2">{portOwnerText(port.owner)}</td>
              <td className="px-4 py-2">
                <PortActions boxName={boxName} port={port} />
              </td>
            </tr>
          ))}
        </DataTable>
      )}
    </Card>
  );
}
