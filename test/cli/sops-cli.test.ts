import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { VECTORS_DIR } from '../sops/vectors.js';
import { beforeAll, describe, expect, it } from 'vitest';

const BIN = new URL('../../dist/scripts/cli/bin.js', import.meta.url).pathname;

function dk(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    cwd: opts.cwd,
    input: opts.input ?? '',
    env: { PATH: process.env.PATH, HOME: '/nonexistent', ...opts.env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('deploy-keys sops (whole process)', () => {
  it('decrypts a real sops-nix file and extracts a value', () => {
    const env = { SOPS_AGE_KEY_FILE: path.join(VECTORS_DIR, 'sops-nix/age-keys.txt') };
    const r = dk(['sops', 'decrypt', path.join(VECTORS_DIR, 'sops-nix/secrets.yaml'), '--extract', '["test_key"]'], { env });
    expect(r).toMatchObject({ code: 0, stdout: 'test_value' });
    const j = dk(['sops', 'decrypt', path.join(VECTORS_DIR, 'sops-age/secret.enc.json'), '--output-type', 'json'], { env: { SOPS_AGE_KEY_FILE: path.join(VECTORS_DIR, 'sops-age/key.txt') } });
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toEqual(JSON.parse(readFileSync(path.join(VECTORS_DIR, 'expected/sops-age__secret.enc.json.json'), 'utf8')));
  });

  it('refuses a MAC mismatch with one line and prints no plaintext', () => {
    const r = dk(['sops', 'decrypt', path.join(VECTORS_DIR, 'derived/mac-mismatch-key-removed.yaml')], { env: { SOPS_AGE_KEY_FILE: path.join(VECTORS_DIR, 'sops-age/key.txt') } });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/mac-mismatch-key-removed\.yaml: MAC mismatch/);
    expect(r.stderr).not.toContain('secret');
  });

  it('names the file and the fix when no identity opens it', () => {
    const r = dk(['sops', 'decrypt', path.join(VECTORS_DIR, 'sops-nix/secrets.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/secrets\.yaml: .*SOPS_AGE_KEY_FILE/);
  });

  describe('encrypt, set, updatekeys round trip', () => {
    let dir: string;
    let env: NodeJS.ProcessEnv;
    let recipient: string;
    beforeAll(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'dk-sops-cli-'));
      const id = await generateX25519Identity();
      recipient = await identityToRecipient(id);
      env = { SOPS_AGE_KEY: id };
      writeFileSync(path.join(dir, '.sops.yaml'), `creation_rules:\n  - path_regex: \\.yaml$\n    age: ${recipient}\n`);
      writeFileSync(path.join(dir, 'host.yaml'), '# fleet secrets\nuser-secret: keep me\n', { mode: 0o640 });
    });

    it('encrypts in place for the .sops.yaml rule, then sets a PEM value from stdin', () => {
      expect(dk(['sops', 'encrypt', '--in-place', 'host.yaml'], { env, cwd: dir }).code).toBe(0);
      const enc = readFileSync(path.join(dir, 'host.yaml'), 'utf8');
      expect(enc).toContain(recipient);
      expect(enc).not.toContain('keep me');
      const pem = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n';
      const set = dk(['sops', 'set', 'host.yaml', '["deploy-keys"]["nix-config"]', '--value-stdin'], { env, cwd: dir, input: JSON.stringify(pem) });
      expect(set.code, set.stderr).toBe(0);
      // Existing modes are kept through encrypt --in-place and set (like sops).
      expect(statSync(path.join(dir, 'host.yaml')).mode & 0o777).toBe(0o640);
      const back = dk(['sops', 'decrypt', 'host.yaml', '--extract', '["deploy-keys"]["nix-config"]'], { env, cwd: dir });
      expect(back.stdout).toBe(pem);
      expect(dk(['sops', 'decrypt', 'host.yaml', '--extract', '["user-secret"]'], { env, cwd: dir }).stdout).toBe('keep me');
    });

    it('rejects a non-JSON value without echoing it and leaves the file unchanged', () => {
      const before = readFileSync(path.join(dir, 'host.yaml'), 'utf8');
      const r = dk(['sops', 'set', 'host.yaml', '["x"]', '--value-stdin'], { env, cwd: dir, input: 'hunter2-not-json' });
      expect(r.code).toBe(2);
      expect(r.stderr).not.toContain('hunter2');
      expect(readFileSync(path.join(dir, 'host.yaml'), 'utf8')).toBe(before);
    });

    it('updatekeys adds a recipient without touching values or the MAC', async () => {
      const before = readFileSync(path.join(dir, 'host.yaml'), 'utf8');
      const other = await identityToRecipient(await generateX25519Identity());
      writeFileSync(path.join(dir, '.sops.yaml'), `creation_rules:\n  - path_regex: \\.yaml$\n    age: ${recipient},${other}\n`);
      const r = dk(['sops', 'updatekeys', '--yes', 'host.yaml'], { env, cwd: dir });
      expect(r.code, r.stderr).toBe(0);
      const after = readFileSync(path.join(dir, 'host.yaml'), 'utf8');
      expect(after).toContain(other);
      const line = (t: string, k: string) => t.split('\n').find((l) => l.trimStart().startsWith(k));
      for (const k of ['mac:', 'lastmodified:', 'user-secret:']) expect(line(after, k)).toBe(line(before, k));
    });

    it('rotate prints a file under a new data key, --in-place writes it (mode kept), --dry-run writes nothing', () => {
      const before = readFileSync(path.join(dir, 'host.yaml'), 'utf8');
      const value = (t: string) => t.split('\n').find((l) => l.startsWith('user-secret:'));
      const printed = dk(['sops', 'rotate', 'host.yaml'], { env, cwd: dir });
      expect(printed.code, printed.stderr).toBe(0);
      expect(value(printed.stdout)).not.toBe(value(before));
      expect(readFileSync(path.join(dir, 'host.yaml'), 'utf8')).toBe(before);
      expect(dk(['sops', 'rotate', '--dry-run', 'host.yaml'], { env, cwd: dir }).code).toBe(2);
      const dry = dk(['sops', 'rotate', '--in-place', '--dry-run', 'host.yaml'], { env, cwd: dir });
      expect(dry).toMatchObject({ code: 0, stdout: '' });
      expect(dry.stderr).toMatch(/would get a new data key/);
      expect(readFileSync(path.join(dir, 'host.yaml'), 'utf8')).toBe(before);
      const r = dk(['sops', 'rotate', '-i', 'host.yaml'], { env, cwd: dir });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/host\.yaml: has a new data key, wrapped for 2 recipient\(s\)/);
      expect(statSync(path.join(dir, 'host.yaml')).mode & 0o777).toBe(0o640);
      expect(value(readFileSync(path.join(dir, 'host.yaml'), 'utf8'))).not.toBe(value(before));
      expect(dk(['sops', 'decrypt', 'host.yaml', '--extract', '["user-secret"]'], { env, cwd: dir }).stdout).toBe('keep me');
    });

    it('fails with one line on a file that is not SOPS', () => {
      writeFileSync(path.join(dir, 'plain.yaml'), 'a: 1\n');
      const r = dk(['sops', 'decrypt', 'plain.yaml'], { env, cwd: dir });
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/plain\.yaml/);
    });
  });
});
