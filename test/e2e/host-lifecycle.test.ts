/**
 * End to end, through the real CLI and no double: a real sshd on loopback
 * serves two bare repos, the `ssh` forge provider registers the keys in its
 * authorized_keys, `vm-fresh` makes the host file, `activate --root` installs
 * into a sandbox and clones through the aliases, `revoke` cuts the host off.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { beforeAll, describe, expect, it } from 'vitest';
import { gitTestEnv } from '../helpers/git-server.js';
import { haveSshd, startSshd, type SshdFixture } from '../helpers/sshd.js';
import { haveTools } from '../helpers/tools.js';

const BIN = new URL('../../dist/scripts/cli/bin.js', import.meta.url).pathname;
const REPOS = ['nix-config', 'nix-secrets'];
const HOST = 'web-01';

describe.skipIf(!(haveSshd() && haveTools('git', 'ssh-keygen')))('host life cycle against a real sshd', () => {
  let sshd: SshdFixture;
  let work: string;
  let sandbox: string;
  let env: NodeJS.ProcessEnv;

  const dk = (...args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd: work, env, encoding: 'utf8', input: '' });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const ssh = (p: string) => path.join(sandbox, 'root/.ssh', p);
  const writeConfig = (repos: string[]): void => {
    writeFileSync(
      path.join(work, 'deploy-keys.yaml'),
      `secrets_dir: sops\nforge:\n  type: ssh\n  authorized_keys: ${sshd.authorizedKeys}\nknown_hosts:\n  - "${sshd.knownHostsLine()}"\nrepos:\n${repos
        .map((r) => `  ${r}:\n    url: ${sshd.repoUrl(`acme/${r}`)}\n    clone_to: /root/${r}\n`)
        .join('')}`,
    );
  };
  /** git as the host's root would run it: through the alias of the sandbox's ssh config. */
  const gitAsHost = (args: string[], cwd?: string) =>
    spawnSync('git', args, {
      cwd,
      encoding: 'utf8',
      env: gitTestEnv({
        GIT_SSH_COMMAND: `ssh -F ${ssh('config')} -o IdentityFile=${ssh('nix-config-deploy')} -o UserKnownHostsFile=${ssh('deploy-keys_known_hosts')}`,
      }),
    });

  beforeAll(async () => {
    sshd = await startSshd({ repos: REPOS.map((r) => `acme/${r}`) });
    return () => sshd.stop();
  });
  beforeAll(async () => {
    work = path.join(sshd.dir, 'fleet');
    sandbox = path.join(sshd.dir, 'sandbox');
    mkdirSync(path.join(work, 'sops'), { recursive: true });
    for (const d of ['root', 'etc']) mkdirSync(path.join(sandbox, d), { recursive: true });
    const identity = await generateX25519Identity();
    env = { PATH: process.env.PATH, HOME: work, SOPS_AGE_KEY: identity };
    writeFileSync(path.join(work, '.sops.yaml'), `creation_rules:\n  - path_regex: ^sops/[^/]+\\.yaml$\n    age: ${await identityToRecipient(identity)}\n`);
    writeConfig(REPOS);
    // The operator's own key in the sandbox: must survive every activation.
    mkdirSync(path.join(sandbox, 'root/.ssh'), { recursive: true, mode: 0o700 });
    writeFileSync(ssh('id_ed25519'), 'not managed\n', { mode: 0o600 });
    writeFileSync(ssh('config'), 'Host example\n  User me\n');
  });

  it('vm-fresh registers read-only keys and activate clones both repos through the aliases', () => {
    const fresh = dk('vm-fresh', HOST, '--yes');
    expect(fresh.code, fresh.err).toBe(0);
    const ak = readFileSync(sshd.authorizedKeys, 'utf8');
    for (const r of REPOS) expect(ak).toContain(`${HOST}-${r}-deploy`);
    expect(ak).toMatch(/restrict,command=/);

    const act = dk('activate', HOST, '--root', sandbox);
    expect(act.code, act.err + act.out).toBe(0);
    for (const r of REPOS) {
      const key = ssh(`${r}-deploy`);
      expect(lstatSync(key).isFile()).toBe(true);
      expect(statSync(key).mode & 0o777).toBe(0o600);
      expect(readFileSync(ssh('config'), 'utf8')).toContain(`Host 127.0.0.1-${r}\n`);
      const clone = path.join(sandbox, 'root', r);
      expect(existsSync(path.join(clone, 'README.md'))).toBe(true);
      expect(gitAsHost(['-C', clone, 'remote', 'get-url', 'origin']).stdout.trim()).toMatch(new RegExp(`^127\\.0\\.0\\.1-${r}:`));
    }
    expect(statSync(path.join(sandbox, 'root/.ssh')).mode & 0o777).toBe(0o700);
    expect(readFileSync(ssh('config'), 'utf8')).toContain('Host example\n  User me\n');
  });

  it('a deploy key cannot push', () => {
    const clone = path.join(sandbox, 'root', 'nix-config');
    writeFileSync(path.join(clone, 'x'), 'x');
    gitAsHost(['add', 'x'], clone);
    gitAsHost(['commit', '-qm', 'x'], clone);
    const push = gitAsHost(['push', 'origin', 'HEAD:main'], clone);
    expect(push.status).not.toBe(0);
    expect(push.stderr).toMatch(/refus|denied|not allowed|only/i);
  });

  it('a second vm-fresh and a second activation change nothing', () => {
    const before = readFileSync(path.join(work, 'sops', `${HOST}.yaml`), 'utf8');
    const mtime = statSync(ssh('nix-config-deploy')).mtimeMs;
    expect(dk('vm-fresh', HOST, '--yes').code).toBe(0);
    expect(readFileSync(path.join(work, 'sops', `${HOST}.yaml`), 'utf8')).toBe(before);
    const again = dk('activate', HOST, '--root', sandbox);
    expect(again.code, again.err).toBe(0);
    expect(again.out).toMatch(/no changes/);
    expect(statSync(ssh('nix-config-deploy')).mtimeMs).toBe(mtime);
  });

  it('a repo removed from the config loses its key and alias; the user key stays', () => {
    writeConfig(['nix-config']);
    const r = dk('activate', HOST, '--root', sandbox);
    expect(r.code, r.err).toBe(0);
    expect(existsSync(ssh('nix-secrets-deploy'))).toBe(false);
    expect(readFileSync(ssh('config'), 'utf8')).not.toContain('nix-secrets');
    expect(existsSync(ssh('nix-config-deploy'))).toBe(true);
    expect(readFileSync(ssh('id_ed25519'), 'utf8')).toBe('not managed\n');
    writeConfig(REPOS);
  });

  it('after revoke the host can no longer clone', () => {
    const r = dk('revoke', HOST, '--yes');
    expect(r.code, r.err + r.out).toBe(0);
    expect(readFileSync(sshd.authorizedKeys, 'utf8')).not.toContain(`${HOST}-`);
    const dest = path.join(sshd.dir, 'after-revoke');
    const clone = gitAsHost(['clone', '-q', `127.0.0.1-nix-config:${sshd.repoPath('acme/nix-config')}`, dest]);
    expect(clone.status).not.toBe(0);
    expect(existsSync(dest)).toBe(false);
  });
});
