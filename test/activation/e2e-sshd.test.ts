/**
 * End to end against a real sshd on 127.0.0.1 (test/helpers/sshd.ts): the
 * rendered script installs the keys, pins the server's host key and clones
 * both repos through their aliases; then the same over bootstrapOverSsh.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { bootstrapOverSsh, renderActivationScript, runActivation } from '../../scripts/lib/activation/index.js';
import { git, gitTestEnv } from '../helpers/git-server.js';
import { haveSshd, makeClientKey, startSshd, type SshdFixture } from '../helpers/sshd.js';
import { config, makeKey, sshForgeYaml, tempDir, type KeyPair, type TempDir } from './fixtures.js';

const REPOS = ['nix-config', 'nix-secrets'] as const;

describe.runIf(haveSshd())('activation against a real sshd', () => {
  let sshd: SshdFixture;
  let t: TempDir;
  const keys: Record<string, KeyPair> = {};

  beforeAll(async () => {
    sshd = await startSshd({ repos: REPOS.map((r) => `acme/${r}`) });
    return () => sshd.stop();
  });
  beforeAll(() => {
    t = tempDir('dk-e2e-');
    for (const r of REPOS) {
      keys[r] = makeKey(`web-01-${r}-deploy`);
      // The forge step's job; done directly here for now.
      appendFileSync(sshd.authorizedKeys, `${keys[r].publicLine}\n`);
    }
    return () => {
      t.cleanup();
    };
  });

  const yaml = (cloneRoot: string) =>
    sshForgeYaml(sshd.port, sshd.knownHostsLine(), Object.fromEntries(REPOS.map((r) => [r, sshd.repoPath(`acme/${r}`)])), cloneRoot);
  const keyMap = () => new Map(REPOS.map((r) => [r, keys[r]!.privatePem]));
  const publicKeys = () => Object.fromEntries(REPOS.map((r) => [r, keys[r]!.publicLine]));

  test('clones both repos through their aliases; a second run changes nothing; --pull fast-forwards', async () => {
    const root = path.join(t.dir, 'local');
    for (const d of ['root', 'etc']) mkdirSync(path.join(root, d), { recursive: true });
    const script = renderActivationScript(config(yaml('/srv/clones')), 'web-01', { publicKeys: publicKeys() });
    const env = { GIT_CONFIG_NOSYSTEM: '1' };

    const r = await runActivation({ script, root, keys: keyMap(), env });
    expect(r.exitCode, `${r.output}\n${await sshd.log()}`).toBe(0);
    for (const repo of REPOS) {
      const dir = path.join(root, 'srv/clones', repo);
      expect(readFileSync(path.join(dir, 'README.md'), 'utf8')).toBe(`# acme/${repo}\n`);
      const url = (await git(['-C', dir, 'remote', 'get-url', 'origin'])).trim();
      expect(url).toBe(`127.0.0.1-${repo}:${sshd.repoPath(`acme/${repo}`)}`);
    }
    const cfg = readFileSync(path.join(root, 'root/.ssh/config'), 'utf8');
    expect(cfg).toContain(`Host 127.0.0.1-nix-config\n  HostName 127.0.0.1\n  Port ${sshd.port}\n  User git\n`);
    expect(readFileSync(path.join(root, 'root/.ssh/deploy-keys_known_hosts'), 'utf8')).toContain(`${sshd.knownHostsLine()}\n`);

    const again = await runActivation({ script, root, keys: keyMap(), env });
    expect(again.exitCode, again.output).toBe(0);
    expect(again.stdout).toBe('deploy-keys: no changes\n');

    // A new upstream commit: left alone by default, fast-forwarded with --pull.
    const work = path.join(t.dir, 'work');
    const bare = sshd.repoPath('acme/nix-config');
    // The bare repo belongs to git: let root's git touch it.
    const safe = path.join(t.dir, 'safe.gitconfig');
    writeFileSync(safe, '[safe]\n\tdirectory = *\n');
    const genv = gitTestEnv({ GIT_CONFIG_GLOBAL: safe });
    await git(['clone', '-q', bare, work], { env: genv });
    writeFileSync(path.join(work, 'new.txt'), 'x\n');
    await git(['add', 'new.txt'], { cwd: work, env: genv });
    await git(['commit', '-q', '-m', 'new'], { cwd: work, env: genv });
    await git(['push', '-q', 'origin', 'main'], { cwd: work, env: genv });
    execFileSync('chown', ['-R', `${sshd.uid}:${sshd.gid}`, bare]);
    const unchanged = await runActivation({ script, root, keys: keyMap(), env });
    expect(unchanged.stdout).toBe('deploy-keys: no changes\n');
    const pulled = await runActivation({ script, root, keys: keyMap(), env, args: ['--pull'] });
    expect(pulled.exitCode, pulled.output).toBe(0);
    expect(pulled.stdout).toContain('fast-forwarded /srv/clones/nix-config');
    expect(readFileSync(path.join(root, 'srv/clones/nix-config/new.txt'), 'utf8')).toBe('x\n');
  });

  test('a wrong pinned host key makes the clone fail for that repo, never trusts the server', async () => {
    const root = path.join(t.dir, 'wrong-pin');
    for (const d of ['root', 'etc']) mkdirSync(path.join(root, d), { recursive: true });
    const wrong = `[127.0.0.1]:${sshd.port} ${makeKey('not-the-host').publicLine.split(' ').slice(0, 2).join(' ')}`;
    const c = config(yaml('/srv/clones').replace(sshd.knownHostsLine(), wrong));
    const r = await runActivation({ script: renderActivationScript(c, 'web-01'), root, keys: keyMap(), env: gitTestEnv() });
    expect(r.exitCode).toBe(1);
    expect(r.failed.sort()).toEqual([...REPOS]);
    expect(r.output).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  });

  test('bootstrapOverSsh: script and keys over one ssh connection', async () => {
    // The fixture's only login is `git`, so the script installs for git under a --root it owns.
    const root = path.join(t.dir, 'remote');
    mkdirSync(root);
    chownSync(root, sshd.uid, sshd.gid);
    chmodSync(t.dir, 0o711);
    const operator = await makeClientKey(t.dir, 'operator');
    appendFileSync(sshd.authorizedKeys, `${operator.publicKey}\n`);
    const script = renderActivationScript(config(yaml('/srv/clones')), 'web-01', {
      user: 'git',
      home: '/home/git',
      publicKeys: publicKeys(),
    });
    const sshOptions = sshd.sshCommand(operator.privateKeyPath).split(' ').slice(1);
    const r = await bootstrapOverSsh({ script, target: `git@127.0.0.1`, port: sshd.port, keys: keyMap(), sshOptions, args: ['--root', root] });
    expect(r.exitCode, `${r.output}\n${await sshd.log()}`).toBe(0);
    expect(readFileSync(path.join(root, 'home/git/.ssh/nix-config-deploy'), 'utf8')).toBe(keys['nix-config']!.privatePem);
    expect(readFileSync(path.join(root, 'srv/clones/nix-secrets/README.md'), 'utf8')).toBe('# acme/nix-secrets\n');
    // Not root: git's ssh command goes to the user's ~/.gitconfig.
    expect(readFileSync(path.join(root, 'home/git/.gitconfig'), 'utf8')).toContain('deploy-keys-git-ssh');

    const again = await bootstrapOverSsh({ script, target: 'git@127.0.0.1', port: sshd.port, keys: keyMap(), sshOptions, args: ['--root', root] });
    expect(again.stdout, again.output).toBe('deploy-keys: no changes\n');
  });
});
