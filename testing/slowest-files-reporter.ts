// Prints the slowest test files after a run, so whoever makes the suite slower sees it (and where to look first).
import type { Reporter, TestModule } from 'vitest/node';

const SHOWN = 10;

export default class SlowestFilesReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const timed = testModules
      .map((module) => {
        const { collectDuration, duration } = module.diagnostic();
        return { file: module.relativeModuleId, project: module.project.name, seconds: (collectDuration + duration) / 1000 };
      })
      .sort((a, b) => b.seconds - a.seconds)
      .slice(0, SHOWN);
    if (timed.length === 0) return;
    const lines = timed.map(({ file, project, seconds }) => `  ${seconds.toFixed(1).padStart(7)} s  ${file}${project ? ` (${project})` : ''}`);
    process.stdout.write(`\nSlowest test files (import + tests and hooks):\n${lines.join('\n')}\n`);
  }
}
