import { describe, expect, it } from 'vitest';
import { isUnderShareRoot, outsideRootsMessage, parseRealPath } from './share-roots';

describe('share roots', () => {
  const roots = ['/Users/*/src', '/srv/shared'];

  it.each([
    ['/Users/ann/src', true],
    ['/Users/ann/src/app/build', true],
    ['/srv/shared', true],
    ['/srv/shared/x', true],
    ['/Users/ann', false],
    ['/Users/ann/srcx', false],
    ['/Users/ann/other/src', false],
    ['/Users/ann/bob/src', false], // * stays within one folder name
    ['/Users/.ssh/src', false], // a glob does not match a leading dot
    ['/Users/ann/src/../../root', false],
    ['/srv/sharedx', false],
    ['/', false],
    ['relative/srv/shared', false],
  ])('%s: %s', (path, allowed) => {
    expect(isUnderShareRoot(path, roots)).toBe(allowed);
  });

  it('no roots allow nothing; ? is one character', () => {
    expect(isUnderShareRoot('/srv/shared', [])).toBe(false);
    expect(isUnderShareRoot('/data/v1', ['/data/v?'])).toBe(true);
    expect(isUnderShareRoot('/data/v10', ['/data/v?'])).toBe(false);
  });

  it('says what is allowed, and what the path really is', () => {
    expect(outsideRootsMessage('/srv/app', 'mini', roots, '/etc')).toBe(
      '/srv/app (which is /etc on mini, symlinks resolved) may not be shared into a VM: the folders an admin allows to share from mini are /Users/*/src, /srv/shared. Choose a folder under one of them, or ask an admin to add it on the host\'s page.',
    );
  });

  it('keeps a folder name that ends in a newline', () => {
    expect(parseRealPath('/srv/shared/x\n\n')).toBe('/srv/shared/x\n');
  });
});
