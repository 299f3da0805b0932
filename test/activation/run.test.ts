/**
 * The rendered script run for real (sh, ssh-keygen, git) against a temp tree
 * via --root. No network: these runs use --no-clone (see e2e-sshd.test.ts).
 */
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { renderActivationScript, runActivation, type ActivationOptions } from '../../scripts/lib/activation/index.js';
import { haveTools } from '../helpers/tools.js';
import { config, GITHUB_YAML, makeKey, sandbox, type KeyPair, type Sandbox } from './fixtures.js';

const GIT_ENV = { GIT_CONFIG_NOSYSTEM: '1', LC_ALL: 'C' };

describe.runIf(haveTools('sh', 'ssh-keygen', 'git'))('activation script, local runs', () => {
  let t: Sandbox;
  let root: string;
  let keysDir: string;
  let keys: Record<string, KeyPair>;
  const ssh = () => path.join(root, 'root/.ssh');

  beforeEach(() => {
    t = sandbox();
    ({ root, keysDir, keys } = t);
  });
  afterEach(() => { t.cleanup(); });

  const script = (yaml = GITHUB_YAML, opts: ActivationOptions = {}) =>
    renderActivationScript(config(yaml), 'web-01', {
      publicKeys: Object.fromEntries(Object.entries(keys).map(([n, k]) => [n, k.publicLine])),
      ...opts,
    });
  const run = (s: string, args: string[] = [], withKeys?: Map<string, string>) =>
    runActivation({
      script: s,
      root,
      ...(withKeys ? { keys: withKeys } : { keysDir }),
      args: ['--no-clone', ...args],
      env: GIT_ENV,
    });
  const snapshot = () => {
    const out: Record<string, number> = {};
    for (const d of [ssh(), path.join(root, 'root')]) {
      for (const n of readdirSync(d)) {
        const p = path.join(d, n);
        if (lstatSync(p).isFile()) out[p] = lstatSync(p).mtimeMs;
      }
    }
    return out;
  };
  const mode = (p: string) => statSync(p).mode & 0o777;

  test('installs keys, pins and the config block; a second run changes nothing', async () => {
    const userConfig = 'Host foo\n  User bar\n\nServerAliveInterval 5'; // no final newline on purpose
    mkdirSync(ssh(), { mode: 0o755 });
    writeFileSync(path.join(ssh(), 'config'), userConfig);
    writeFileSync(path.join(ssh(), 'id_ed25519'), 'users own key\n', { mode: 0o600 });

    const r = await run(script());
    expect(r.exitCode, r.output).toBe(0);
    expect(mode(ssh())).toBe(0o700);
    for (const n of Object.keys(keys)) {
      const kf = path.join(ssh(), `${n}-deploy`);
      expect(lstatSync(kf).isFile() && !lstatSync(kf).isSymbolicLink()).toBe(true);
      expect(mode(kf)).toBe(0o600);
      expect(mode(`${kf}.pub`)).toBe(0o644);
      expect(readFileSync(kf, 'utf8')).toBe(keys[n]!.privatePem);
      expect(readFileSync(`${kf}.pub`, 'utf8')).toBe(`${keys[n]!.publicLine}\n`);
    }
    const cfg = readFileSync(path.join(ssh(), 'config'), 'utf8');
    expect(cfg.startsWith('# BEGIN nix-deploy-keys')).toBe(true);
    expect(cfg.endsWith(`# END nix-deploy-keys\n${userConfig}`)).toBe(true);
    expect(cfg).toContain('Host github.com-nix-secrets\n  HostName github.com\n  User git\n  IdentityFile /root/.ssh/nix-secrets-deploy\n');
    expect(readFileSync(path.join(ssh(), 'deploy-keys_known_hosts'), 'utf8')).toMatch(/^github\.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl$/m);
    expect(readFileSync(path.join(ssh(), '.deploy-keys-managed'), 'utf8')).toMatch(/\nkey nix-config\nkey nix-secrets\ngit-ssh wrapper\ngit-ssh config \/etc\/gitconfig\n$/);
    expect(readdirSync(ssh()).filter((n) => n.includes('dk-tmp'))).toEqual([]);

    const before = snapshot();
    await new Promise((r) => setTimeout(r, 20));
    const again = await run(script());
    expect(again.exitCode, again.output).toBe(0);
    expect(again.unchanged).toBe(true);
    expect(again.stdout).toBe('deploy-keys: no changes\n');
    expect(snapshot()).toEqual(before);
  });

  test('--keys-stdin gives the same result; a truncated stream writes nothing', async () => {
    const stream = new Map(Object.entries(keys).map(([n, k]) => [n, k.privatePem]));
    const { execa } = await import('execa');
    const cut = keys['nix-config']!.privatePem.split('\n').slice(0, 3).join('\n');
    const bad = await execa('sh', ['-c', script(), 'x', '--root', root, '--keys-stdin', '--no-clone'], {
      input: `deploy-keys-stream v1\nkey nix-config\n${cut}\n`,
      reject: false,
    });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/ended inside the key for 'nix-config'; nothing was written/);
    expect(existsSync(ssh())).toBe(false);
    const empty = await runActivation({ script: script(), root, args: ['--keys-stdin', '--no-clone'] });
    expect(empty.exitCode).toBe(2);
    expect(empty.stderr).toMatch(/--keys-stdin: no input/);

    const r = await run(script(), [], stream);
    expect(r.exitCode, r.output).toBe(0);
    expect(readFileSync(path.join(ssh(), 'nix-config-deploy'), 'utf8')).toBe(keys['nix-config']!.privatePem);
    const again = await run(script(), [], stream);
    expect(again.unchanged, again.output).toBe(true);
  });

  test('an existing block is replaced in place; lines around it stay byte-identical', async () => {
    mkdirSync(ssh(), { mode: 0o700 });
    const before = 'Host a\n  User x\r\n\tIdentityFile ~/.ssh/a \\weird\n';
    const after = '\nHost b\n  Port 2\n';
    writeFileSync(path.join(ssh(), 'config'), `${before}# BEGIN nix-deploy-keys old\nHost stale\n# END nix-deploy-keys\n${after}`);
    const r = await run(script());
    expect(r.exitCode, r.output).toBe(0);
    const cfg = readFileSync(path.join(ssh(), 'config'), 'utf8');
    expect(cfg.startsWith(`${before}# BEGIN nix-deploy-keys (managed`)).toBe(true);
    expect(cfg.endsWith(`Host *\n# END nix-deploy-keys\n${after}`)).toBe(true);
    expect(cfg).not.toContain('Host stale');
  });

  test('a broken block is left alone with a clear message', async () => {
    mkdirSync(ssh(), { mode: 0o700 });
    const text = 'Host a\n# BEGIN nix-deploy-keys\nHost x\n';
    writeFileSync(path.join(ssh(), 'config'), text);
    const r = await run(script());
    expect(r.exitCode).toBe(1);
    expect(r.failed).toContain('ssh-config');
    expect(r.stderr).toMatch(/BEGIN nix-deploy-keys' line without its END line/);
    expect(readFileSync(path.join(ssh(), 'config'), 'utf8')).toBe(text);
  });

  test('a repo removed from the config loses its key and alias; other files stay', async () => {
    expect((await run(script())).exitCode).toBe(0);
    mkdirSync(ssh(), { recursive: true });
    writeFileSync(path.join(ssh(), 'id_ed25519'), 'users own key\n', { mode: 0o600 });
    writeFileSync(path.join(ssh(), 'unrelated-deploy'), 'not ours\n', { mode: 0o600 });
    const only = GITHUB_YAML.replace(/ {2}nix-secrets:\n.*\n.*\n/, '');
    const r = await run(script(only));
    expect(r.exitCode, r.output).toBe(0);
    expect(r.stdout).toMatch(/removed \/root\/\.ssh\/nix-secrets-deploy \(repo nix-secrets is no longer configured\)/);
    expect(existsSync(path.join(ssh(), 'nix-secrets-deploy'))).toBe(false);
    expect(existsSync(path.join(ssh(), 'nix-secrets-deploy.pub'))).toBe(false);
    expect(readFileSync(path.join(ssh(), 'config'), 'utf8')).not.toContain('nix-secrets');
    expect(readFileSync(path.join(ssh(), 'id_ed25519'), 'utf8')).toBe('users own key\n');
    expect(existsSync(path.join(ssh(), 'unrelated-deploy'))).toBe(true);
    expect(existsSync(path.join(ssh(), 'nix-config-deploy'))).toBe(true);
    expect(readFileSync(path.join(ssh(), '.deploy-keys-managed'), 'utf8')).not.toContain('nix-secrets');
  });

  test('a corrupted key is refused, the other repo still installs, nothing half-written', async () => {
    const pem = keys['nix-secrets']!.privatePem.split('\n');
    pem[2] = pem[2]!.slice(0, 10) + (pem[2]![10] === 'A' ? 'B' : 'A') + pem[2]!.slice(11);
    writeFileSync(path.join(keysDir, 'nix-secrets'), pem.join('\n'));
    const r = await run(script());
    expect(r.exitCode).toBe(1);
    expect(r.failed).toEqual(['nix-secrets']);
    expect(r.stderr).toMatch(/FAILED nix-secrets: the new key (is not a valid unencrypted private key|does not match the expected public key)/);
    expect(existsSync(path.join(ssh(), 'nix-secrets-deploy'))).toBe(false);
    expect(existsSync(path.join(ssh(), 'nix-secrets-deploy.pub'))).toBe(false);
    expect(existsSync(path.join(ssh(), 'nix-config-deploy'))).toBe(true);
    expect(readdirSync(ssh()).filter((n) => n.includes('dk-tmp'))).toEqual([]);
    expect(r.output).not.toContain(pem[2]);
  });

  test('a valid key that does not match the expected public key is refused; the installed one stays', async () => {
    expect((await run(script())).exitCode).toBe(0);
    const other = makeKey('other');
    writeFileSync(path.join(keysDir, 'nix-config'), other.privatePem);
    const r = await run(script());
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/FAILED nix-config: the new key does not match the expected public key \(ssh-ed25519 \.\.\.\S{12}\): corrupted or from another host/);
    expect(readFileSync(path.join(ssh(), 'nix-config-deploy'), 'utf8')).toBe(keys['nix-config']!.privatePem);
  });

  test('without an embedded public key the .pub is derived with ssh-keygen', async () => {
    const s = renderActivationScript(config(GITHUB_YAML), 'web-01');
    const r = await run(s);
    expect(r.exitCode, r.output).toBe(0);
    const pub = readFileSync(path.join(ssh(), 'nix-config-deploy.pub'), 'utf8');
    expect(pub).toBe(`${keys['nix-config']!.publicLine.split(' ').slice(0, 2).join(' ')} web-01-nix-config-deploy\n`);
    writeFileSync(path.join(keysDir, 'nix-config'), 'garbage\n');
    const bad = await run(s);
    expect(bad.failed).toEqual(['nix-config']);
    expect(bad.stderr).toMatch(/does not start with a "-----BEGIN \.\.\. PRIVATE KEY-----" line; keeping the installed key/);
  });

  test('a missing key fails that repo only', async () => {
    writeFileSync(path.join(keysDir, 'nix-config'), '');
    chmodSync(path.join(keysDir, 'nix-config'), 0o600);
    const r = await run(script(), []);
    expect(r.failed).toEqual(['nix-config']);
    expect(existsSync(path.join(ssh(), 'nix-secrets-deploy'))).toBe(true);
  });

  test('a symlinked key (old sops-nix path=) is replaced by a real file', async () => {
    mkdirSync(ssh(), { mode: 0o700 });
    symlinkSync(path.join(keysDir, 'nix-config'), path.join(ssh(), 'nix-config-deploy'));
    const r = await run(script());
    expect(r.exitCode, r.output).toBe(0);
    const st = lstatSync(path.join(ssh(), 'nix-config-deploy'));
    expect(st.isSymbolicLink()).toBe(false);
    expect(st.mode & 0o777).toBe(0o600);
  });

  test('insteadOf rules are added, kept idempotent and removed again; the user\'s own rules stay', async () => {
    const gitconfig = path.join(root, 'root/.gitconfig');
    writeFileSync(gitconfig, '[url "mine:"]\n\tinsteadOf = https://example.com/\n[user]\n\tname = me\n');
    const r = await run(script(GITHUB_YAML, { insteadOf: true }));
    expect(r.exitCode, r.output).toBe(0);
    const { execa } = await import('execa');
    const rewrite = async (url: string) =>
      (await execa('git', ['-c', `include.path=${gitconfig}`, 'ls-remote', '--get-url', url], { env: { ...GIT_ENV, HOME: t.dir } })).stdout;
    expect(await rewrite('git@github.com:acme/nix-config.git')).toBe('github.com-nix-config:acme/nix-config.git');
    expect(await rewrite('https://github.com/acme/nix-secrets')).toBe('github.com-nix-secrets:acme/nix-secrets');
    expect(await rewrite('ssh://git@github.com/acme/nix-config')).toBe('github.com-nix-config:acme/nix-config');
    const again = await run(script(GITHUB_YAML, { insteadOf: true }));
    expect(again.unchanged, again.output).toBe(true);
    const off = await run(script(GITHUB_YAML, { insteadOf: true }), ['--no-insteadof']);
    expect(off.exitCode, off.output).toBe(0);
    const text = readFileSync(gitconfig, 'utf8');
    expect(text).not.toMatch(/insteadOf = git@github/);
    expect(text).toContain('insteadOf = https://example.com/');
    expect(text).toContain('name = me');
    expect(readFileSync(path.join(ssh(), '.deploy-keys-managed'), 'utf8')).not.toContain('insteadof');
  });

  test('refuses to run as another user, and bad flags, before writing anything', async () => {
    const s = script(GITHUB_YAML, { user: 'nobody-here', home: '/home/x' });
    const r = await run(s);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/must run as nobody-here/);
    const flags = await runActivation({ script: script(), root, args: ['--bogus'] });
    expect(flags.exitCode).toBe(2);
    const both = await runActivation({ script: script(), root, keysDir, args: ['--keys-stdin'] });
    expect(both.stderr).toMatch(/exclude each other/);
    expect(existsSync(ssh())).toBe(false);
  });

  test('--stage writes a tree for another user (to be copied, e.g. by nixos-anywhere) only under --root, and never clones', async () => {
    const s = script(GITHUB_YAML, { user: 'nobody-here', home: '/home/x' });
    const noRoot = await runActivation({ script: s, keysDir, args: ['--stage'] });
    expect(noRoot.exitCode).toBe(2);
    expect(noRoot.stderr).toMatch(/--stage needs --root/);
    const r = await runActivation({ script: s, root, keysDir, args: ['--stage'], env: GIT_ENV });
    expect(r.exitCode, r.output).toBe(0);
    const dir = path.join(root, 'home/x/.ssh');
    expect(mode(dir)).toBe(0o700);
    expect(readFileSync(path.join(dir, 'nix-config-deploy'), 'utf8')).toBe(keys['nix-config']!.privatePem);
    expect(readFileSync(path.join(dir, '.deploy-keys-managed'), 'utf8')).toContain('key nix-config\n');
    expect(existsSync(path.join(root, 'var/lib/nix-secrets'))).toBe(false);
  });

  test('a ~/.ssh owned by someone else (sops-nix path= leftovers) is refused', async () => {
    mkdirSync(ssh(), { mode: 0o700 });
    chownSync(ssh(), 65534, 65534);
    const r = await run(script());
    expect(r.exitCode).toBe(1);
    expect(r.failed).toEqual(['ssh-dir']);
    expect(r.stderr).toMatch(/is not owned by root .*chown it to root/);
    expect(readdirSync(ssh())).toEqual([]);
  });

  test.runIf(haveTools('runuser') && process.getuid?.() === 0)('runs as a non-root user for that user', async () => {
    const s = renderActivationScript(config(GITHUB_YAML), 'web-01', { user: 'nobody', home: '/home/nobody' });
    mkdirSync(path.join(root, 'home/nobody'), { recursive: true });
    chownSync(path.join(root, 'home/nobody'), 65534, 65534);
    chmodSync(t.dir, 0o755);
    chmodSync(keysDir, 0o755);
    for (const n of Object.keys(keys)) chownSync(path.join(keysDir, n), 65534, 65534);
    const { execa } = await import('execa');
    const r = await execa('runuser', ['-u', 'nobody', '--', 'sh', '-c', s, 'x', '--root', root, '--keys-dir', keysDir, '--no-clone'], { reject: false });
    expect(r.exitCode, `${r.stdout}${r.stderr}`).toBe(0);
    const kf = path.join(root, 'home/nobody/.ssh/nix-config-deploy');
    expect(statSync(kf).uid).toBe(65534);
    expect(statSync(path.dirname(kf)).uid).toBe(65534);
    expect(mode(kf)).toBe(0o600);
    expect(readFileSync(path.join(root, 'home/nobody/.ssh/config'), 'utf8')).toContain('IdentityFile /home/nobody/.ssh/nix-config-deploy');
    // git's ssh command goes to the user's own ~/.gitconfig; the system file is root's business.
    expect(readFileSync(path.join(root, 'home/nobody/.gitconfig'), 'utf8')).toContain('sshCommand = "f=/home/nobody/.ssh/deploy-keys-git-ssh;');
    expect(existsSync(path.join(root, 'etc/gitconfig'))).toBe(false);
  });

  test('--help prints usage', async () => {
    const r = await runActivation({ script: script(), args: ['--help'] });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^usage: sh /);
  });
});
