/**
 * A clone with nothing beside it must run every test: no file of the product
 * or its tests may reach outside the repository (a sibling `shared/` folder,
 * a development machine's absolute paths). Data from elsewhere lives in
 * test/fixtures/ (see its README).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCANNED = ['scripts', 'test', 'bench', 'nix', 'flake.nix', 'justfile', 'package.json', 'README.md', 'vitest.config.ts'];
// Spelled in pieces so this file does not match itself.
const FORBIDDEN = [['..', 'shared'].join('/'), ['shared', 'interop'].join('/'), ['', 'work', ''].join('/'), ['', 'work', ''].join('\\/')];

function* files(p: string): Generator<string> {
  const st = statSync(p, { throwIfNoEntry: false });
  if (!st) return;
  if (st.isFile()) {
    yield p;
    return;
  }
  if (!st.isDirectory()) return;
  for (const name of readdirSync(p)) {
    if (name === 'node_modules' || name === 'dist') continue;
    yield* files(path.join(p, name));
  }
}

describe('the repository is self-contained', () => {
  const all = SCANNED.flatMap((p) => [...files(path.join(ROOT, p))]);

  it('scans the product, its tests and benchmarks (control)', () => {
    expect(all.length).toBeGreaterThan(100);
    expect(all.some((f) => f.endsWith(path.join('test', 'sops', 'vectors.ts')))).toBe(true);
  });

  it('no file names a folder outside the repository or a machine path', () => {
    const offenders: string[] = [];
    for (const f of all) {
      const text = readFileSync(f, 'latin1');
      for (const needle of FORBIDDEN) {
        const i = text.indexOf(needle);
        if (i >= 0) offenders.push(`${path.relative(ROOT, f)}:${text.slice(0, i).split('\n').length}: ${needle}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('the data the tests read is in the repository', () => {
    for (const f of ['sops-vectors/manifest.json', 'github-api/deploy-keys.openapi.json', 'README.md']) {
      expect(statSync(path.join(ROOT, 'test', 'fixtures', f)).isFile()).toBe(true);
    }
  });
});
