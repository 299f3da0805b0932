/** Private temp dirs (0700) and 0600 key files for tests that hand keys to real tools. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';

export function privateTempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `${prefix}-`));
  afterAll(() => { rmSync(dir, { recursive: true, force: true }); });
  return dir;
}

export function writeSecret(dir: string, name: string, content: string | Uint8Array): string {
  const file = path.join(dir, name);
  writeFileSync(file, content, { mode: 0o600, flag: 'wx' });
  return file;
}
