import { describe, expect, it } from 'vitest';
import { daemonJsonSettings, defaultDaemonJson, mergeDaemonJson, parseDaemonJson, renderDaemonJson, sameJson } from './daemon-json';
import { dockerParams } from './docker-recipe';

describe('daemon.json settings', () => {
  it('merges into what the box has, keeping keys and log options it does not set', () => {
    const existing = { debug: true, 'registry-mirrors': ['https://mirror.example'], 'log-opts': { labels: 'team', 'max-size': '50m' } };
    expect(mergeDaemonJson(existing, { 'log-driver': 'json-file', 'log-opts': { 'max-size': '10m', 'max-file': '3' } })).toEqual({
      debug: true,
      'registry-mirrors': ['https://mirror.example'],
      'log-opts': { labels: 'team', 'max-size': '10m', 'max-file': '3' },
      'log-driver': 'json-file',
    });
    // Arrays and scalars are replaced, not merged.
    expect(mergeDaemonJson(existing, { 'registry-mirrors': [], debug: false })).toMatchObject({ 'registry-mirrors': [], debug: false });
    expect(existing['log-opts']['max-size']).toBe('50m');
  });

  it('sees no change when only the key order differs', () => {
    expect(sameJson({ a: 1, b: { c: [1, { d: 2, e: 3 }] } }, { b: { c: [1, { e: 3, d: 2 }] }, a: 1 })).toBe(true);
    expect(sameJson({ a: [1, 2] }, { a: [2, 1] })).toBe(false);
    expect(renderDaemonJson({ 'log-driver': 'local' })).toBe('{\n  "log-driver": "local"\n}\n');
  });

  it('refuses a file that is not a JSON object, quoting its first lines, and takes an empty one as {}', () => {
    expect(parseDaemonJson('  \n')).toEqual({ config: {} });
    expect(parseDaemonJson('{"debug": true}')).toEqual({ config: { debug: true } });
    const broken = parseDaemonJson(['{', '  "debug": true,', '}', ...Array.from({ length: 10 }, (_, i) => `line ${i}`)].join('\n'));
    expect('invalid' in broken && broken.invalid).toMatch(
      /^\/etc\/docker\/daemon\.json on the box is not valid JSON \(.+\), so it was left as it is; fix or remove it and run the job again\. It begins:\n\{\n {2}"debug": true,\n\}\nline 0\n(line \d\n){3}line 4\n\.\.\.$/,
    );
    expect(parseDaemonJson('["debug"]')).toMatchObject({ invalid: expect.stringContaining('(it is not a JSON object)') });
  });

  it('validates rotation settings, turns max-file into the string dockerd wants, and passes other keys through', () => {
    expect(daemonJsonSettings.parse({ 'log-opts': { 'max-size': '10m', 'max-file': 5 }, 'live-restore': true })).toEqual({
      'log-opts': { 'max-size': '10m', 'max-file': '5' },
      'live-restore': true,
    });
    expect(daemonJsonSettings.safeParse({ 'log-opts': { 'max-size': 'ten megs' } }).error?.issues[0]?.message).toBe('max-size looks like 10m, 512k or 1g');
    expect(dockerParams.parse({})).toEqual({ dockerSource: 'distro', daemonJson: defaultDaemonJson });
  });
});
