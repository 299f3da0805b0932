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
    expect(r.urls.filter((u) => u.includes('/node_modules/'))).toEqual([]);
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

  it('vm-fresh renders the activation script without loading execa', async () => {
    const { generateX25519Identity, identityToRecipient } = await import('age-encryption');
    const dir = mkdtempSync(path.join(tmpdir(), 'dk-lazy-'));
    const identity = await generateX25519Identity();
    writeFileSync(path.join(dir, '.sops.yaml'), `creation_rules:\n  - age: ${await identityToRecipient(identity)}\n`);
    writeFileSync(path.join(dir, 'deploy-keys.yaml'), 'secrets_dir: sops\nforge:\n  type: manual\nrepos:\n  nix-config:\n    url: git@github.com:acme/nix-config.git\n');
    const r = loaded([BIN, '--config', path.join(dir, 'deploy-keys.yaml'), 'vm-fresh', 'web-01', '--yes', '--json'], { SOPS_AGE_KEY: identity, HOME: dir });
    expect(r.code).toBe(0);
    expect(readFileSync(path.join(dir, 'activation', 'web-01.sh'), 'utf8')).toContain('nix-config');
    expect(r.urls.filter((u) => u.includes('/execa/'))).toEqual([]);
  });
});
