/**
 * Hostile ~/.ssh contents: symlinks, foreign owners, loosened modes and an
 * edited manifest, against the rendered script run for real (sh, ssh-keygen).
 */
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { renderActivationScript, runActivation } from '../../scripts/lib/activation/index.js';
import { haveTools } from '../helpers/tools.js';
import { config, GITHUB_YAML, sandbox, type KeyPair, type Sandbox } from './fixtures.js';

const isRoot = process.getuid?.() === 0;

describe.runIf(haveTools('sh', 'ssh-keygen'))('activation script against a hostile ~/.ssh', () => {
  let t: Sandbox;
  let root: string;
  let keysDir: string;
  let keys: Record<string, KeyPair>;
  const ssh = () => path.join(root, 'root/.ssh');
  const mode = (p: string) => statSync(p).mode & 0o777;

  beforeEach(() => {
    t = sandbox();
    ({ root, keysDir, keys } = t);
  });
  afterEach(() => { t.cleanup(); });

  const script = () =>
    renderActivationScript(config(GITHUB_YAML), 'web-01', {
      publicKeys: Object.fromEntries(Object.entries(keys).map(([n, k]) => [n, k.publicLine])),
    });
  const run = (shell = 'sh') => runActivation({ script: script(), root, keysDir, shell, args: ['--no-clone'] });

  test('a file path that is a symlink to a directory is refused, nothing is written into that directory', async () => {
    const elsewhere = path.join(t.dir, 'elsewhere');
    mkdirSync(elsewhere);
    mkdirSync(ssh(), { mode: 0o700 });
    symlinkSync(elsewhere, path.join(ssh(), 'deploy-keys_known_hosts'));
    symlinkSync(elsewhere, path.join(ssh(), '.deploy-keys-managed'));
    symlinkSync(elsewhere, path.join(ssh(), 'nix-config-deploy.pub'));
    const r = await run();
    expect(r.exitCode).toBe(1);
    expect(readdirSync(elsewhere)).toEqual([]);
    expect(r.failed).toEqual(expect.arrayContaining(['known-hosts', 'manifest', 'nix-config']));
    expect(r.stdout).not.toMatch(/wrote \/root\/\.ssh\/(deploy-keys_known_hosts|\.deploy-keys-managed)/);
    expect(readdirSync(ssh()).filter((n) => n.includes('dk-tmp'))).toEqual([]);
    // The other repo still installs.
    expect(readFileSync(path.join(ssh(), 'nix-secrets-deploy'), 'utf8')).toBe(keys['nix-secrets']!.privatePem);
  });

  test('an installed key whose mode was loosened is made 0600 again, its content kept', async () => {
    expect((await run()).exitCode).toBe(0);
    const kf = path.join(ssh(), 'nix-config-deploy');
    chmodSync(kf, 0o644);
    const r = await run();
    expect(r.exitCode, r.output).toBe(0);
    expect(mode(kf)).toBe(0o600);
    expect(readFileSync(kf, 'utf8')).toBe(keys['nix-config']!.privatePem);
    const again = await run();
    expect(again.unchanged, again.output).toBe(true);
  });

  test.runIf(isRoot)('files with the right content but another owner are replaced by our own files', async () => {
    expect((await run()).exitCode).toBe(0);
    // Left behind while ~/.ssh was writable by others: an attacker who still
    // holds them open could rewrite the pins or read the key later.
    for (const n of ['deploy-keys_known_hosts', 'nix-config-deploy', 'nix-config-deploy.pub', 'config', '.deploy-keys-managed']) {
      chownSync(path.join(ssh(), n), 65534, 65534);
      chmodSync(path.join(ssh(), n), 0o666);
    }
    const r = await run();
    expect(r.exitCode, r.output).toBe(0);
    for (const n of ['deploy-keys_known_hosts', 'nix-config-deploy', 'nix-config-deploy.pub', 'config', '.deploy-keys-managed']) {
      expect(statSync(path.join(ssh(), n)).uid, n).toBe(0);
    }
    expect(mode(path.join(ssh(), 'nix-config-deploy'))).toBe(0o600);
    expect(readFileSync(path.join(ssh(), 'nix-config-deploy'), 'utf8')).toBe(keys['nix-config']!.privatePem);
    expect((await run()).unchanged).toBe(true);
  });

  test('an edited manifest cannot make the script delete files it did not write', async () => {
    expect((await run()).exitCode).toBe(0);
    const victim = path.join(t.dir, 'victim-deploy');
    writeFileSync(victim, 'precious\n');
    writeFileSync(path.join(root, 'victim-deploy'), 'precious\n');
    writeFileSync(path.join(ssh(), 'mine-deploy'), 'precious\n');
    symlinkSync(victim, path.join(ssh(), 'linked-deploy'));
    const manifest = path.join(ssh(), '.deploy-keys-managed');
    writeFileSync(
      manifest,
      `${readFileSync(manifest, 'utf8')}key ../../../victim\nkey ${victim.slice(0, -'-deploy'.length)}\nkey /victim\nkey ..\nkey linked\nkey .\nkey  mine\n`,
    );
    const r = await run();
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(readFileSync(path.join(root, 'victim-deploy'), 'utf8')).toBe('precious\n');
    expect(readFileSync(path.join(ssh(), 'mine-deploy'), 'utf8')).toBe('precious\n');
    expect(lstatSync(path.join(ssh(), 'linked-deploy')).isSymbolicLink()).toBe(true);
    expect(r.stdout).not.toMatch(/removed/);
  });

  test('a manifest that is a symlink is not read (it could list another tree)', async () => {
    mkdirSync(ssh(), { mode: 0o700 });
    writeFileSync(path.join(ssh(), 'other-deploy'), 'not ours\n', { mode: 0o600 });
    const fake = path.join(t.dir, 'fake-manifest');
    writeFileSync(fake, 'key other\n');
    symlinkSync(fake, path.join(ssh(), '.deploy-keys-managed'));
    const r = await run();
    expect(r.exitCode, r.output).toBe(0);
    expect(existsSync(path.join(ssh(), 'other-deploy'))).toBe(true);
    expect(readFileSync(fake, 'utf8')).toBe('key other\n');
    expect(lstatSync(path.join(ssh(), '.deploy-keys-managed')).isFile()).toBe(true);
  });

  describe('--root: no symlink between the root and what the script writes (issue 10, finding 5)', () => {
    const elsewhere = () => {
      const d = path.join(t.dir, `elsewhere-${readdirSync(t.dir).length}`);
      mkdirSync(d);
      return d;
    };

    test('ROOT/root -> elsewhere: no key, config or clone lands there', async () => {
      const away = elsewhere();
      rmSync(path.join(root, 'root'), { recursive: true });
      symlinkSync(away, path.join(root, 'root'));
      const r = await run();
      expect(r.exitCode).toBe(1);
      expect(r.failed).toEqual(['ssh-dir']);
      expect(r.stderr).toContain(`FAILED ssh-dir: ${root}/root is a symlink under --root ${root}; refusing to write keys through it`);
      expect(readdirSync(away)).toEqual([]);
    });

    test('ROOT/etc -> elsewhere: git-ssh config fails, the keys still install', async () => {
      const away = elsewhere();
      rmSync(path.join(root, 'etc'), { recursive: true });
      symlinkSync(away, path.join(root, 'etc'));
      const r = await run();
      expect(r.exitCode).toBe(1);
      expect(r.failed).toEqual(['git-ssh']);
      expect(r.stderr).toContain(`${root}/etc is a symlink under --root`);
      expect(readdirSync(away)).toEqual([]);
      expect(readFileSync(path.join(ssh(), 'nix-config-deploy'), 'utf8')).toBe(keys['nix-config']!.privatePem);
    });

    test('a clone path through a symlinked directory, or itself a symlink, is neither cloned into nor pulled', async () => {
      const yaml = 'repos:\n  nix-secrets:\n    url: git@github.com:acme/nix-secrets.git\n    clone_to: /var/lib/nix-secrets\n';
      const one = renderActivationScript(config(yaml), 'web-01', { publicKeys: { 'nix-secrets': keys['nix-secrets']!.publicLine } });
      const away = elsewhere();
      symlinkSync(away, path.join(root, 'var'));
      const r = await runActivation({ script: one, root, keysDir });
      expect(r.exitCode).toBe(1);
      expect(r.failed).toEqual(['nix-secrets']);
      expect(r.stderr).toContain(`FAILED nix-secrets: ${root}/var is a symlink under --root ${root}; not cloning or pulling through it`);
      expect(readdirSync(away)).toEqual([]);
      // The checkout itself a symlink to a git checkout elsewhere: --pull must not go there either.
      rmSync(path.join(root, 'var'));
      mkdirSync(path.join(root, 'var/lib'), { recursive: true });
      mkdirSync(path.join(away, '.git'));
      symlinkSync(away, path.join(root, 'var/lib/nix-secrets'));
      const pull = await runActivation({ script: one, root, keysDir, args: ['--pull'] });
      expect(pull.failed).toEqual(['nix-secrets']);
      expect(pull.stderr).toContain(`${root}/var/lib/nix-secrets is a symlink under --root`);
    });
  });

  test('a run killed with SIGKILL while a key sits in its temp file: the next run removes that file (and only such files)', async () => {
    // A fake ssh-keygen SIGKILLs the script exactly when the new key is in its temp file (it is asked to check it).
    const bin = path.join(t.dir, 'bin');
    mkdirSync(bin);
    writeFileSync(path.join(bin, 'ssh-keygen'), '#!/bin/sh\nfor a; do f=$a; done\nkill -9 "${f##*.dk-tmp.}"\n', { mode: 0o755 });
    const killed = await runActivation({ script: script(), root, keysDir, args: ['--no-clone'], env: { PATH: `${bin}:${process.env.PATH ?? ''}` } });
    expect(killed.exitCode).not.toBe(0);
    const left = readdirSync(ssh()).filter((n) => n.includes('.dk-tmp.'));
    expect(left).toHaveLength(1);
    const leftover = path.join(ssh(), left[0] ?? '');
    expect(readFileSync(leftover, 'utf8')).toBe(keys['nix-config']!.privatePem);

    // Not ours to remove: a live process's temp file, and names that are not dk_tmp_write's.
    const live = path.join(ssh(), `.config.dk-tmp.${process.pid}`);
    const odd = [path.join(ssh(), '.config.dk-tmp.12x'), path.join(ssh(), '.config.dk-tmp.'), path.join(ssh(), 'config.tmp')];
    for (const f of [live, ...odd]) writeFileSync(f, 'x', { mode: 0o600 });
    const r = await run();
    expect(r.exitCode, r.output).toBe(0);
    expect(r.stdout).toContain(`removed /root/.ssh/${left[0] ?? ''} (left by an interrupted run)`);
    expect(existsSync(leftover)).toBe(false);
    for (const f of [live, ...odd]) expect(existsSync(f), f).toBe(true);
  });

  test.each(['sh', 'bash'].filter((x) => haveTools(x)))('%s -x (someone debugging) never traces the private keys', async (shell) => {
    const { execa } = await import('execa');
    const { encodeKeyStream } = await import('../../scripts/lib/activation/index.js');
    const stream = encodeKeyStream(new Map(Object.entries(keys).map(([n, k]) => [n, k.privatePem])));
    const r = await execa(shell, ['-x', '-c', script(), 'x', '--root', root, '--keys-stdin', '--no-clone'], { input: stream, reject: false, all: true });
    expect(r.exitCode, r.all).toBe(0);
    for (const k of Object.values(keys)) {
      for (const line of k.privatePem.split('\n').slice(1, -2)) expect(r.all).not.toContain(line);
    }
    expect(readFileSync(path.join(ssh(), 'nix-config-deploy'), 'utf8')).toBe(keys['nix-config']!.privatePem);
  });

  test.runIf(haveTools('bash'))('bash runs it the same way as sh (dash)', async () => {
    const r = await run('bash');
    expect(r.exitCode, r.output).toBe(0);
    expect(readFileSync(path.join(ssh(), 'nix-config-deploy'), 'utf8')).toBe(keys['nix-config']!.privatePem);
    expect(mode(path.join(ssh(), 'nix-config-deploy'))).toBe(0o600);
    const again = await run('sh');
    expect(again.unchanged, again.output).toBe(true);
    const stdin = await runActivation({
      script: script(),
      root,
      shell: 'bash',
      keys: new Map(Object.entries(keys).map(([n, k]) => [n, k.privatePem])),
      args: ['--no-clone'],
    });
    expect(stdin.unchanged, stdin.output).toBe(true);
  });
});
