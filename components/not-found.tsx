import Link from 'next/link';

/** "Not found" in the dashboard's style: the 404 page and a box, host or job that does not exist (or is not yours). */
export function NotFound({ what, detail }: { what: string; detail: string }) {
  return (
    <div className="rounded-lg bg-white p-6 shadow-sm ring-1 ring-slate-200" data-testid="not-found">
      <h1 className="text-lg font-semibold">{what} not found</h1>
      {/* An alert: a page that changed into "not found" (a box just removed) is announced. */}
      <p role="alert" className="mt-2 text-sm text-slate-600">
        {detail}
      </p>
      <Link href="/" className="mt-4 inline-block text-sm text-indigo-700 hover:underline">
        Back to the fleet
      </Link>
    </div>
  );
}
