// Copies the non-TypeScript files the compiled code reads at run time into
// dist/, beside the modules that read them (tsc copies only .ts output), so
// the built package finds them without looking outside its own directory.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ASSET_DIRS = ['scripts/lib/activation', 'scripts/maintenance'];

for (const dir of ASSET_DIRS) {
  const out = path.join(repo, 'dist', dir);
  mkdirSync(out, { recursive: true });
  for (const name of readdirSync(path.join(repo, dir))) {
    if (name.endsWith('.sh')) copyFileSync(path.join(repo, dir, name), path.join(out, name));
  }
}
