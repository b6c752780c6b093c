// Where the native backend looks for the addon (src/backends/native.ts): FASTNORM_ADDON_PATH
// alone; else the local build first (so a stale prebuild never hides a fresh compile), then the
// prebuilt binary of this platform-arch; and which prebuildify file names fit this process.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { addonCandidates, prebuildCandidates } from '../src/backends/native';
import { packageRoot } from '../src/api/package-root';

const saved = process.env.FASTNORM_ADDON_PATH;
afterEach(() => {
  if (saved === undefined) delete process.env.FASTNORM_ADDON_PATH;
  else process.env.FASTNORM_ADDON_PATH = saved;
});

describe('addon candidates', () => {
  it('build/Release first, then prebuilds/<platform>-<arch>/', () => {
    delete process.env.FASTNORM_ADDON_PATH;
    const c = addonCandidates();
    expect(c[0]).toBe(path.join(packageRoot, 'build', 'Release', 'fastnorm.node'));
    expect(c.length).toBeGreaterThanOrEqual(2);
    for (const file of c.slice(1)) expect(path.dirname(file)).toBe(path.join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`));
  });

  it('FASTNORM_ADDON_PATH is the only candidate when set', () => {
    process.env.FASTNORM_ADDON_PATH = '/somewhere/fastnorm.node';
    expect(addonCandidates()).toEqual(['/somewhere/fastnorm.node']);
  });
});

describe('prebuild file names (prebuildify tags)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fastnorm-prebuilds-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const names = ['fastnorm.glibc.node', 'fastnorm.musl.node', 'fastnorm.abi115.node', 'fastnorm.node', 'README.md'];
  for (const n of names) writeFileSync(path.join(dir, n), '');

  it('N-API files of this libc (or untagged), most specific first; ABI-tagged and other files never', () => {
    expect(prebuildCandidates(dir, 'glibc')).toEqual(['fastnorm.glibc.node', 'fastnorm.node'].map((n) => path.join(dir, n)));
    expect(prebuildCandidates(dir, 'musl')).toEqual(['fastnorm.musl.node', 'fastnorm.node'].map((n) => path.join(dir, n)));
  });

  it('a missing directory gives the expected file name (for the fallback warning)', () => {
    expect(prebuildCandidates(path.join(dir, 'nope'), 'glibc')).toEqual([path.join(dir, 'nope', 'fastnorm.glibc.node')]);
    expect(prebuildCandidates(path.join(dir, 'nope'), 'musl')).toEqual([path.join(dir, 'nope', 'fastnorm.musl.node')]);
  });
});
