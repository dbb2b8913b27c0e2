/**
 * How far a job got, counting only the steps that ran (succeeded or failed). A skipped step never ran (a job cancelled
 * or failed before it), so it never fills the bar; it is counted apart, to say so.
 */
export function stepProgress(steps: readonly { status: string }[]) {
  const ran = steps.filter((step) => step.status === 'succeeded' || step.status === 'failed').length;
  const skipped = steps.filter((step) => step.status === 'skipped').length;
  const total = steps.length;
  return { ran, skipped, total, percent: total ? Math.round((ran / total) * 100) : 0 };
}

/** "3/8 steps", or "3/8 steps, 5 skipped". */
export function stepProgressText({ ran, skipped, total }: ReturnType<typeof stepProgress>): string {
  return `${ran}/${total} steps${skipped ? `, ${skipped} skipped` : ''}`;
}
