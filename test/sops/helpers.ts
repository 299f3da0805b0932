/** Test helpers: temp dirs, real age keys from age-keygen, and the age CLI on stdin. */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function tempDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'sops-test-'));
}

/** A cwd with no .sops.yaml above it, so a config elsewhere on the machine cannot leak into tests. */
export const NO_CONFIG = { env: {}, cwd: mkdtempSync(path.join(os.tmpdir(), 'sops-noconfig-')) };

export interface AgeKey {
  file: string;
  identity: string;
  recipient: string;
}

/** A fresh X25519 key made by the real age-keygen. */
export function ageKeygen(dir: string, name = 'key.txt'): AgeKey {
  const file = path.join(dir, name);
  execFileSync('age-keygen', ['-o', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  const text = readFileSync(file, 'utf8');
  const recipient = /public key: (age1[0-9a-z]+)/.exec(text)?.[1];
  const identity = text.split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-1'));
  if (!recipient || !identity) throw new Error('age-keygen output not understood');
  return { file, identity, recipient };
}

/** `age -d -i keyfile` with the armored file on stdin (key material never in argv). */
export function ageCliDecrypt(armored: string, keyFile: string): Buffer {
  const r = spawnSync('age', ['-d', '-i', keyFile], { input: armored });
  if (r.status !== 0) throw new Error(`age -d failed: ${r.stderr.toString()}`);
  return r.stdout;
}
