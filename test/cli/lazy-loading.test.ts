/** Start-up stays lean: commands that do not talk to a forge never load Octokit. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { VECTORS_DIR } from '../sops/vectors.js';
import { describe, expect, it } from 'vitest';

const BIN = new URL('../../dist/scripts/cli/bin.js', import.meta.url).pathname;
const HOOK = new URL('../helpers/record-imports.mjs', import.meta.url).pathname;

function loaded(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; urls: string[] } {
  const log = path.join(mkdtempSync(path.join(tmpdir(), 'dk-imports-')), 'imports.txt');
  writeFileSync(log, '');
  const r = spawnSync(process.execPath, ['--import', HOOK, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, RECORD_IMPORTS: log, ...env } });
  return { code: r.status, urls: readFileSync(log, 'utf8').split('\n').filter(Boolean) };
}

describe('lazy loading', () => {
  it('the recorder sees Octokit when it is loaded (control)', () => {
    const r = loaded(['--input-type=module', '-e', "await import('@octokit/rest')"]);
    expect(r.urls.some((u) => u.includes('/@octokit/'))).toBe(true);
  });

  it('--help loads neither Octokit, nor yaml, nor age', () => {
    const r = loaded([BIN, '--help']);
    expect(r.code).toBe(0);
    expect(r.urls.filter((u) => /\/node_modules\//.test(u))).toEqual([]);
  });

  it('sops decrypt (X25519) loads neither Octokit nor age-encryption nor a curve library: node:crypto does it', () => {
    const r = loaded([BIN, 'sops', 'decrypt', path.join(VECTORS_DIR, 'sops-nix/secrets.yaml')], { SOPS_AGE_KEY_FILE: path.join(VECTORS_DIR, 'sops-nix/age-keys.txt') });
    expect(r.code).toBe(0);
    expect(r.urls.filter((u) => /\/(@octokit|age-encryption|@noble)\//.test(u))).toEqual([]);
  });

  it('a post-quantum identity loads age-encryption, and only then', () => {
    const r = loaded([BIN, 'sops', 'decrypt', path.join(VECTORS_DIR, 'flux-kustomize-controller/algorithms-age-pq.yaml')], {
      SOPS_AGE_KEY_FILE: path.join(VECTORS_DIR, 'flux-kustomize-controller/keys-age-pq.txt'),
    });
    expect(r.code).toBe(0);
    expect(r.urls.some((u) => u.includes('/age-encryption/'))).toBe(true);
  });
});
