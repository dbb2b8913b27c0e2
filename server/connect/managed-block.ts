/**
 * A block of lines Boxyard owns inside someone's own text file, between two marker lines: the developers' keys in a
 * box's ~/.ssh/authorized_keys, and the boxes' Host entries in a laptop's ~/.ssh/config. Only the block is ever
 * rewritten; every byte outside it stays as it was. Pure, so both the provisioning step and the CLI share it.
 */

export interface BlockMarkers {
  begin: string;
  end: string;
}

/** The file cannot be updated safely (markers duplicated or unbalanced): a person has to look at it. */
export class ManagedBlockError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManagedBlockError';
  }
}

/** Lines with their own terminators ("\n", "\r\n", or none for a last line without one), so joining them gives the input back. */
function splitKeepingEnds(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

function content(line: string): string {
  return line.replace(/\r?\n$/, '').trimEnd();
}

/** The file's own line ending, from its first line break: new lines are written the same way. */
function lineEnding(text: string): string {
  const first = text.indexOf('\n');
  return first > 0 && text[first - 1] === '\r' ? '\r\n' : '\n';
}

/**
 * Returns `existing` with the block between `markers` holding exactly `lines`: replaced in place when there is one,
 * appended at the end when there is none (so top-level lines and Includes before it keep their meaning), removed
 * (markers included) when `lines` is empty. Throws ManagedBlockError when the markers are duplicated or unbalanced.
 */
export function replaceManagedBlock(existing: string, markers: BlockMarkers, lines: readonly string[]): string {
  for (const line of lines) {
    if (/[\r\n]/.test(line)) throw new Error('a managed line cannot contain a line break');
  }
  const fileLines = splitKeepingEnds(existing);
  const begins = fileLines.flatMap((line, index) => (content(line) === markers.begin ? [index] : []));
  const ends = fileLines.flatMap((line, index) => (content(line) === markers.end ? [index] : []));
  if (begins.length > 1 || ends.length > 1) {
    throw new ManagedBlockError(`it has more than one "${begins.length > 1 ? markers.begin : markers.end}" line; remove the extra block by hand, then run again`);
  }
  if (begins.length !== ends.length || (begins.length === 1 && ends[0]! < begins[0]!)) {
    throw new ManagedBlockError(`its "${markers.begin}" and "${markers.end}" lines do not pair up; fix or remove them by hand, then run again`);
  }

  const eol = lineEnding(existing);
  const block = lines.length ? [markers.begin, ...lines, markers.end].map((line) => line + eol).join('') : '';
  if (begins.length === 1) {
    return [...fileLines.slice(0, begins[0]), block, ...fileLines.slice(ends[0]! + 1)].join('');
  }
  if (!block) return existing;
  const separator = existing === '' || existing.endsWith('\n') ? '' : eol;
  return existing + separator + block;
}

