/**
 * git's ssh command for the deploy keys (git-ssh.sh): the rendered wrapper run
 * with a fake `ssh` that records its arguments, the core.sshCommand guard,
 * real git calling it, and the activation step that installs it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { gitSshCommand, renderActivationScript, runActivation, type ActivationOptions } from '../../scripts/lib/activation/index.js';
import { haveTools } from '../helpers/tools.js';
import { config, GITHUB_YAML, sandbox, tempDir, type Sandbox } from './fixtures.js';

const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
const YAML = `known_hosts:\n  - "[git.example.org]:2222 ${HOST_KEY}"\n${GITHUB_YAML}  infra:\n    url: ssh://git@git.example.org:2222/srv/git/infra.git\n`;

/** The wrapper text embedded in a rendered activation script. */
function wrapperOf(script: string): string {
  const m = /^DK_GIT_SSH_SCRIPT='((?:[^']|'\\'')*)'$/m.exec(script);
  if (!m) throw new Error('no DK_GIT_SSH_SCRIPT in the script');
  return m[1]!.replace(/'\\''/g, "'");
}

const isRoot = process.getuid?.() === 0;

describe.runIf(haveTools('sh', 'git', 'shellcheck'))('the git ssh wrapper', () => {
  const t = tempDir('dk-gitssh-');
  const home = path.join(t.dir, 'home/root');
  const ssh = path.join(home, '.ssh');
  const bin = path.join(t.dir, 'bin');
  const log = path.join(t.dir, 'ssh.log');
  const wrapper = path.join(ssh, 'deploy-keys-git-ssh');

  beforeAll(() => {
    mkdirSync(ssh, { recursive: true, mode: 0o700 });
    mkdirSync(bin);
    // A fake ssh: records each call (one argument per line, then "--"); `-G` succeeds like OpenSSH's.
    writeFileSync(path.join(bin, 'ssh'), `#!/bin/sh\nfor a do printf '%s\\n' "$a"; done >>"${log}"\nprintf -- '--\\n' >>"${log}"\n[ "$1" = -G ]\n`, { mode: 0o755 });
    const script = renderActivationScript(config(YAML), 'web-01', { user: 'root', home });
    writeFileSync(wrapper, wrapperOf(script), { mode: 0o700 });
    for (const r of ['nix-config', 'nix-secrets', 'infra']) writeFileSync(path.join(ssh, `${r}-deploy`), 'key\n', { mode: 0o600 });
  });
  afterAll(() => {
    t.cleanup();
  });

  const env = () => ({ PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, LC_ALL: 'C' });
  // /bin/sh is dash on Debian and bash on NixOS: the wrapper runs under both.
  let shell = 'sh';
  /** Runs the wrapper; returns the argument lists the fake ssh got. */
  const call = (...args: string[]): string[][] => {
    writeFileSync(log, '');
    const r = spawnSync(shell, [wrapper, ...args], { env: env(), encoding: 'utf8' });
    expect(r.stderr).toBe('');
    return readFileSync(log, 'utf8').split('--\n').filter(Boolean).map((c) => c.slice(0, -1).split('\n'));
  };
  const upload = (p: string) => `git-upload-pack '${p}'`;

  test('is shellcheck-clean on its own', () => {
    execFileSync('shellcheck', ['-s', 'sh', '-S', 'style', wrapper], { stdio: 'pipe' });
  });

  const shells = ['sh', ...(haveTools('bash') ? ['bash'] : [])];
  test.each(shells)('maps every spelling of a managed repo to its alias, keeping protocol and address family (%s)', (sh) => {
    shell = sh;
    const alias = ['-o', 'SendEnv=GIT_PROTOCOL', 'github.com-nix-config'];
    for (const p of ['/acme/nix-config', 'acme/nix-config.git', '/acme/nix-config.git/', '//acme/nix-config/']) {
      expect(call('-o', 'SendEnv=GIT_PROTOCOL', 'git@github.com', upload(p)), p).toEqual([[...alias, upload(p)]]);
    }
    expect(call('-o', 'SendEnv=GIT_PROTOCOL', 'git@GitHub.COM', upload('acme/nix-config'))).toEqual([[...alias, upload('acme/nix-config')]]);
    // No user in the URL: the alias supplies it.
    expect(call('github.com', upload('/acme/nix-secrets'))).toEqual([['github.com-nix-secrets', upload('/acme/nix-secrets')]]);
    expect(call('-6', '-p', '22', 'git@github.com', `git-upload-archive '/acme/nix-config'`)).toEqual([['-6', 'github.com-nix-config', `git-upload-archive '/acme/nix-config'`]]);
    expect(call('-p', '2222', 'git@git.example.org', upload('/srv/git/infra.git'))).toEqual([['git.example.org-infra', upload('/srv/git/infra.git')]]);
  });

  test.each(shells)('passes everything else to plain ssh unchanged (%s)', (sh) => {
    shell = sh;
    const cases: string[][] = [
      // Another repo, also one whose name extends a managed one (an insteadOf prefix would catch it).
      ['git@github.com', upload('/acme/nix-config-extra')],
      ['git@github.com', upload('/other/nix-config')],
      ['-p', '2222', 'git@github.com', upload('/acme/nix-config')],
      ['-p', '22', 'git@git.example.org', upload('/srv/git/infra.git')],
      ['alice@github.com', upload('/acme/nix-config')],
      // Pushes, shells, git's probe, options git does not pass.
      ['git@github.com', `git-receive-pack '/acme/nix-config'`],
      ['git@github.com'],
      ['-G', '-o', 'SendEnv=GIT_PROTOCOL', 'git@github.com'],
      ['-o', 'ProxyCommand=x', 'git@github.com', upload('/acme/nix-config')],
      ['-i', 'k', 'git@github.com', upload('/acme/nix-config')],
      ['git@github.com', upload('/acme/nix-config'), 'extra'],
      ['-p', '22x', 'git@github.com', upload('/acme/nix-config')],
      // Quoting games in the path or the host never reach a lookup.
      ['git@github.com', `git-upload-pack '/acme/nix'\\''-config'`],
      ['git@github.com', `git-upload-pack '/acme/nix-config' ; touch ${t.dir}/pwned '`],
      ['git@github.com', `git-upload-pack "/acme/nix-config"`],
      ['git@$(touch pwned)', upload('/acme/nix-config')],
      ['git@github.com;x', upload('/acme/nix-config')],
    ];
    for (const args of cases) expect(call(...args), args.join(' ')).toEqual([args]);
    expect(existsSync(path.join(t.dir, 'pwned'))).toBe(false);
  });

  test('only the key\'s owner is mapped: a missing or foreign key means plain ssh', () => {
    const args = ['git@github.com', upload('/acme/nix-secrets')];
    const key = path.join(ssh, 'nix-secrets-deploy');
    const saved = readFileSync(key);
    try {
      execFileSync('rm', [key]);
      expect(call(...args)).toEqual([args]);
      writeFileSync(key, saved, { mode: 0o600 });
      if (isRoot) {
        chownSync(key, 65534, 65534);
        expect(call(...args)).toEqual([args]);
      }
    } finally {
      writeFileSync(key, saved, { mode: 0o600 });
      if (isRoot) chownSync(key, 0, 0);
    }
    expect(call(...args)).toEqual([['github.com-nix-secrets', upload('/acme/nix-secrets')]]);
  });

  test('the core.sshCommand guard runs the wrapper for its owner and plain ssh for anyone who cannot execute it', () => {
    const guard = (file: string, ...args: string[]) => {
      writeFileSync(log, '');
      // What git runs for core.sshCommand.
      const value = gitSshCommand(file);
      spawnSync('sh', ['-c', `${value} "$@"`, value, ...args], { env: env() });
      return readFileSync(log, 'utf8');
    };
    const args = ['git@github.com', upload('/acme/nix-config')];
    expect(guard(home, ...args)).toBe(`github.com-nix-config\n${upload('/acme/nix-config')}\n--\n`);
    expect(guard(path.join(t.dir, 'no-such-home'), ...args)).toBe(`${args.join('\n')}\n--\n`);
    chmodSync(wrapper, 0o600);
    try {
      expect(guard(home, ...args)).toBe(`${args.join('\n')}\n--\n`);
    } finally {
      chmodSync(wrapper, 0o700);
    }
  });

  test.runIf(isRoot && haveTools('setpriv'))('another user falls back to plain ssh: root\'s ~/.ssh is not theirs to run', () => {
    chmodSync(t.dir, 0o755);
    chmodSync(log, 0o666);
    const value = gitSshCommand(home);
    const args = ['git@github.com', upload('/acme/nix-config')];
    writeFileSync(log, '');
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', `${value} "$@"`, value, ...args], { env: env(), encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(1); // the fake ssh: not -G
    expect(readFileSync(log, 'utf8')).toBe(`${args.join('\n')}\n--\n`);
  });

  test('real git calls it as expected: the probe goes to plain ssh, the fetch through the alias', () => {
    writeFileSync(log, '');
    const gitEnv = { ...env(), GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', HOME: t.dir };
    for (const url of ['ssh://git@git.example.org:2222/srv/git/infra.git', 'git@github.com:acme/nix-config.git']) {
      spawnSync('git', ['-c', `core.sshCommand=${gitSshCommand(home)}`, 'ls-remote', url], { env: gitEnv });
    }
    const calls = readFileSync(log, 'utf8').split('--\n').filter(Boolean).map((c) => c.slice(0, -1).split('\n'));
    expect(calls).toEqual([
      ['-G', '-o', 'SendEnv=GIT_PROTOCOL', '-p', '2222', 'git@git.example.org'],
      ['-o', 'SendEnv=GIT_PROTOCOL', 'git.example.org-infra', upload('/srv/git/infra.git')],
      ['-G', '-o', 'SendEnv=GIT_PROTOCOL', 'git@github.com'],
      ['-o', 'SendEnv=GIT_PROTOCOL', 'github.com-nix-config', upload('acme/nix-config.git')],
    ]);
  });
});

describe.runIf(haveTools('sh', 'ssh-keygen', 'git'))('activation: git ssh step', () => {
  let t: Sandbox;
  beforeEach(() => {
    t = sandbox();
  });
  afterEach(() => {
    t.cleanup();
  });

  const script = (opts: ActivationOptions = {}) => renderActivationScript(config(GITHUB_YAML), 'web-01', opts);
  const run = (s: string, args: string[] = []) => runActivation({ script: s, root: t.root, keysDir: t.keysDir, args: ['--no-clone', ...args] });
  const etcGitconfig = () => path.join(t.root, 'etc/gitconfig');
  const wrapper = () => path.join(t.root, 'root/.ssh/deploy-keys-git-ssh');
  const get = (file: string) => spawnSync('git', ['config', '--file', file, '--get', 'core.sshCommand'], { encoding: 'utf8' }).stdout.replace(/\n$/, '');
  const manifest = () => readFileSync(path.join(t.root, 'root/.ssh/.deploy-keys-managed'), 'utf8');
  const VALUE = gitSshCommand('/root');

  test('root: the wrapper in ~/.ssh (0700) and core.sshCommand in /etc/gitconfig (kept world-readable, other settings kept)', async () => {
    writeFileSync(etcGitconfig(), '[credential "https://example.org"]\n\thelper = store\n', { mode: 0o644 });
    const r = await run(script());
    expect(r.exitCode, r.output).toBe(0);
    expect(r.stdout).toContain('deploy-keys: wrote /root/.ssh/deploy-keys-git-ssh\n');
    expect(r.stdout).toContain('deploy-keys: set core.sshCommand in /etc/gitconfig\n');
    expect(statSync(wrapper()).mode & 0o777).toBe(0o700);
    expect(readFileSync(wrapper(), 'utf8')).toBe(wrapperOf(script()));
    expect(get(etcGitconfig())).toBe(VALUE);
    expect(readFileSync(etcGitconfig(), 'utf8')).toContain('helper = store');
    expect(statSync(etcGitconfig()).mode & 0o777).toBe(0o644);
    expect(manifest()).toMatch(/\ngit-ssh wrapper\ngit-ssh config \/etc\/gitconfig\n$/);
    expect(existsSync(path.join(t.root, 'root/.gitconfig'))).toBe(false);

    const again = await run(script());
    expect(again.stdout, again.output).toBe('deploy-keys: no changes\n');
  });

  test('a new /etc/gitconfig is created world-readable; a loosened wrapper mode is repaired', async () => {
    expect((await run(script())).exitCode).toBe(0);
    expect(statSync(etcGitconfig()).mode & 0o777).toBe(0o644);
    chmodSync(wrapper(), 0o600);
    expect((await run(script())).exitCode).toBe(0);
    expect(statSync(wrapper()).mode & 0o777).toBe(0o700);
  });

  test('a core.sshCommand someone else set is left alone and reported', async () => {
    const text = '[core]\n\tsshCommand = ssh -i /root/.ssh/mine\n';
    writeFileSync(etcGitconfig(), text);
    const r = await run(script());
    expect(r.exitCode).toBe(1);
    expect(r.failed).toEqual(['git-ssh']);
    expect(r.stderr).toMatch(/FAILED git-ssh: \/etc\/gitconfig already sets core\.sshCommand to something else; remove it, or run with --no-git-ssh/);
    expect(readFileSync(etcGitconfig(), 'utf8')).toBe(text);
    expect(manifest()).not.toMatch(/git-ssh config/);
  });

  test('a managed /etc/gitconfig (NixOS: a symlink) is accepted when it holds the value, else named with the fix', async () => {
    const managed = path.join(t.dir, 'static-gitconfig');
    writeFileSync(managed, `[core]\n\tsshCommand = "${VALUE.replace(/"/g, '\\"')}"\n`, { mode: 0o444 });
    symlinkSync(managed, etcGitconfig());
    const r = await run(script());
    expect(r.exitCode, r.output).toBe(0);
    expect(manifest()).not.toMatch(/git-ssh config/); // not ours: never removed by --no-git-ssh
    const off = await run(script(), ['--no-git-ssh']);
    expect(off.exitCode, off.output).toBe(0);
    expect(readFileSync(managed, 'utf8')).toContain('sshCommand');

    writeFileSync(path.join(t.dir, 'other'), '[user]\n\tname = x\n');
    execFileSync('ln', ['-sfn', path.join(t.dir, 'other'), etcGitconfig()]);
    const bad = await run(script());
    expect(bad.failed).toEqual(['git-ssh']);
    expect(bad.stderr).toContain(`FAILED git-ssh: /etc/gitconfig is a symlink (managed elsewhere: NixOS programs.git.config, home-manager?); set core.sshCommand there to: ${VALUE}`);
    expect(lstatSync(etcGitconfig()).isSymbolicLink()).toBe(true);
  });

  test('--no-git-ssh removes the wrapper and our value only; rendering with gitSsh false does the same', async () => {
    writeFileSync(etcGitconfig(), '[user]\n\tname = admin\n');
    expect((await run(script())).exitCode).toBe(0);
    const off = await run(script(), ['--no-git-ssh']);
    expect(off.exitCode, off.output).toBe(0);
    expect(off.stdout).toContain('removed core.sshCommand from /etc/gitconfig');
    expect(off.stdout).toContain('removed /root/.ssh/deploy-keys-git-ssh');
    expect(existsSync(wrapper())).toBe(false);
    expect(get(etcGitconfig())).toBe('');
    expect(readFileSync(etcGitconfig(), 'utf8')).toContain('name = admin');
    expect(manifest()).not.toMatch(/git-ssh/);
    expect((await run(script(), ['--no-git-ssh'])).stdout).toBe('deploy-keys: no changes\n');

    expect((await run(script())).exitCode).toBe(0);
    // Someone changed the value since: not ours any more, left alone.
    execFileSync('git', ['config', '--file', etcGitconfig(), 'core.sshCommand', 'ssh -v']);
    const left = await run(script({ gitSsh: false }));
    expect(left.exitCode, left.output).toBe(0);
    expect(get(etcGitconfig())).toBe('ssh -v');
  });

  test('an edited manifest cannot name another file to edit', async () => {
    expect((await run(script())).exitCode).toBe(0);
    const other = path.join(t.root, 'root/.gitconfig');
    execFileSync('git', ['config', '--file', other, 'core.sshCommand', VALUE]);
    writeFileSync(path.join(t.root, 'root/.ssh/.deploy-keys-managed'), `${manifest()}git-ssh config /root/.gitconfig\n`);
    expect((await run(script(), ['--no-git-ssh'])).exitCode).toBe(0);
    expect(get(other)).toBe(VALUE);
  });

  test('two configured repos that are the same repository are refused at render time', () => {
    const dup = `${GITHUB_YAML}  again:\n    url: ssh://git@GitHub.com/acme/nix-config/\n`;
    expect(() => renderActivationScript(config(dup), 'web-01')).toThrow(/repos nix-config and again are the same repository/);
  });
});
