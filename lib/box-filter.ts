import type { BoxStatus } from './validation';

/** What the fleet's filters look at in a box: the server's list and the fleet page filter with the same rule. */
export interface FilterableBox {
  name: string;
  host: string;
  status: BoxStatus;
  notes: string;
  tags: string[];
  owner: { email: string };
  facts: { os: { name: string } } | null;
}

export interface BoxFilterValues {
  search?: string;
  status?: BoxStatus;
  tag?: string;
}

/** A box matches when it has the status and the tag, and the search (any case) is in its name, host, owner, notes, OS or a tag. */
export function matchesBoxFilter(box: FilterableBox, filter: BoxFilterValues): boolean {
  if (filter.status && box.status !== filter.status) return false;
  if (filter.tag && !box.tags.includes(filter.tag)) return false;
  const search = filter.search?.trim().toLowerCase();
  return !search || [box.name, box.host, box.owner.email, box.notes, box.facts?.os.name ?? '', ...box.tags].some((field) => field.toLowerCase().includes(search));
}
