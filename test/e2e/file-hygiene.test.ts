/**
 * Issue 10, finding 3: under `umask 000` every directory and file the CLI
 * creates still gets its explicit mode (no world-writable sops/ or
 * activation/, where anyone could swap the script root runs later), and a
 * world-writable directory left by an older version is refused.
 * Finding 8: a plaintext temp file left by a killed `sops decrypt --output`
 * is removed by the next write there.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempPath } from '../../scripts/lib/fs/index.js';
import { makeKey } from '../activation/fixtures.js';
import { haveTools } from '../helpers/tools.js';

const BIN = new URL('../../dist/scripts/cli/bin.js', import.meta.url).pathname;

describe.runIf(haveTools('sh'))('files and directories under umask 000', () => {
  let work: string;
  let env: NodeJS.ProcessEnv;
  const dk = (...args: string[]) => {
    const r = spawnSync('sh', ['-c', 'umask 000; exec "$@"', 'sh', process.execPath, BIN, ...args], { cwd: work, env, encoding: 'utf8', input: '' });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const mode = (p: string) => statSync(path.join(work, p)).mode & 0o7777;

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'dk-umask-'));
    const identity = await generateX25519Identity();
    env = { PATH: process.env.PATH, HOME: work, SOPS_AGE_KEY: identity, NO_COLOR: '1' };
    const hostKey = makeKey('host').publicLine.split(' ').slice(0, 2).join(' ');
    writeFileSync(
      path.join(work, 'deploy-keys.yaml'),
      `forge:\n  type: ssh\n  authorized_keys: git/authorized_keys\nknown_hosts:\n  - "127.0.0.1 ${hostKey}"\nrepos:\n  nix-config:\n    url: git@127.0.0.1:acme/nix-config.git\n`,
    );
    writeFileSync(path.join(work, '.sops.yaml'), `creation_rules:\n  - path_regex: ^sops/[^/]+\\.yaml$\n    age: ${await identityToRecipient(identity)}\n`);
    spawnSync('mkdir', ['-m', '700', path.join(work, 'git')]);
  });
  afterAll(() => { rmSync(work, { recursive: true, force: true }); });

  it('vm-fresh creates sops/, its state directory and activation/ 0755, files with their own modes', () => {
    const r = dk('vm-fresh', 'web-01', '--yes');
    expect(r.code, r.err).toBe(0);
    expect({
      sops: mode('sops'),
      state: mode('sops/deploy-keys-state'),
      activation: mode('activation'),
      hostFile: mode('sops/web-01.yaml'),
      stateFile: mode('sops/deploy-keys-state/web-01.json'),
      log: mode('sops/deploy-keys.log.jsonl'),
      script: mode('activation/web-01.sh'),
      authorizedKeys: mode('git/authorized_keys'),
    }).toEqual({ sops: 0o755, state: 0o755, activation: 0o755, hostFile: 0o600, stateFile: 0o644, log: 0o600, script: 0o755, authorizedKeys: 0o600 });
    const d = dk('sops', 'decrypt', 'sops/web-01.yaml', '--output', 'plain.yaml');
    expect(d.code, d.err).toBe(0);
    expect(mode('plain.yaml')).toBe(0o600);
    const a = dk('activation', 'web-01', '-o', 'web-01.json', '--json');
    expect(a.code, a.err).toBe(0);
    expect(mode('web-01.json')).toBe(0o644);
  });

  it('the plaintext temp file of a killed sops decrypt --output is swept by the next decrypt there', () => {
    const gone = spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' });
    const stale = tempPath(path.join(work, 'plain.yaml'), Number(gone.stdout.trim()));
    writeFileSync(stale, 'deploy-keys:\n  nix-config: -----BEGIN OPENSSH PRIVATE KEY-----\n', { mode: 0o600 });
    const d = dk('sops', 'decrypt', 'sops/web-01.yaml', '--output', 'plain.yaml');
    expect(d.code, d.err).toBe(0);
    expect(existsSync(stale)).toBe(false);
    expect(readdirSync(work).filter((n) => n.includes('dk-tmp'))).toEqual([]);
  });

  it('a world-writable directory from an older run is refused with the fix, nothing written into it', () => {
    chmodSync(path.join(work, 'activation'), 0o777);
    const before = readdirSync(path.join(work, 'activation'));
    const r = dk('rotate', 'web-01', '--force', '--yes');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/activation is writable by every user \(mode 777\).*chmod o-w /);
    expect(readdirSync(path.join(work, 'activation'))).toEqual(before);
  });
});
