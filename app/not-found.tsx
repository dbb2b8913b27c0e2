import { NotFound } from '../components/not-found';

/** Any address the dashboard has no page for. Outside the signed-in shell: it needs no session. */
export default function NotFoundPage() {
  return (
    <main className="mx-auto max-w-xl px-4 py-16">
      <div className="mb-6 flex items-center gap-2 font-semibold">
        <img src="/icon.svg" alt="" className="size-6" />
        Boxyard
      </div>
      <NotFound what="Page" detail="There is no page at this address. It may have moved, or the link has a typo." />
    </main>
  );
}
