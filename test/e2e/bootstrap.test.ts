/**
 * `deploy-keys bootstrap` through the real CLI: script and keys over one ssh
 * connection to a real sshd, the target's host key pinned from a file.
 * The target account is the fixture's `git` user (root cannot log in there).
 */
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import path from 'node:path';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { beforeAll, describe, expect, it } from 'vitest';
import { haveSshd, makeClientKey, startSshd, type ClientKey, type SshdFixture } from '../helpers/sshd.js';
import { haveTools } from '../helpers/tools.js';

const BIN = new URL('../../dist/scripts/cli/bin.js', import.meta.url).pathname;

describe.skipIf(!(haveSshd() && haveTools('git')))('bootstrap over ssh', () => {
  let sshd: SshdFixture;
  let work: string;
  let env: NodeJS.ProcessEnv;
  let operator: ClientKey;
  let hostKeyFile: string;

  const dk = (...args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd: work, env, encoding: 'utf8', input: '' });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const targetRoot = (name: string) => {
    const root = path.join(sshd.dir, name);
    mkdirSync(path.join(root, 'home/git'), { recursive: true });
    for (const p of [root, path.join(root, 'home'), path.join(root, 'home/git')]) chownSync(p, sshd.uid, sshd.gid);
    return root;
  };

  beforeAll(async () => {
    sshd = await startSshd({ repos: ['acme/nix-config'] });
    return () => sshd.stop();
  });
  beforeAll(async () => {
    work = path.join(sshd.dir, 'fleet');
    mkdirSync(path.join(work, 'sops'), { recursive: true });
    const identity = await generateX25519Identity();
    env = { PATH: process.env.PATH, HOME: work, SOPS_AGE_KEY: identity };
    writeFileSync(path.join(work, '.sops.yaml'), `creation_rules:\n  - age: ${await identityToRecipient(identity)}\n`);
    writeFileSync(
      path.join(work, 'deploy-keys.yaml'),
      `forge:\n  type: ssh\n  authorized_keys: ${sshd.authorizedKeys}\nknown_hosts:\n  - "${sshd.knownHostsLine()}"\nrepos:\n  nix-config:\n    url: ${sshd.repoUrl('acme/nix-config')}\n    clone_to: /home/git/nix-config\n`,
    );
    // The operator's login to the target: a plain line outside the provider's block.
    operator = await makeClientKey(sshd.dir, 'operator');
    appendFileSync(sshd.authorizedKeys, `${operator.publicKey}\n`);
    hostKeyFile = path.join(sshd.dir, 'target_host_key.pub');
    writeFileSync(hostKeyFile, `${sshd.hostPublicKey} root@target\n`);
    expect(dk('vm-fresh', 'web-01', '--yes').code).toBe(0);
  });

  it('installs the key and clones on the target, pinning its host key', () => {
    const root = targetRoot('target');
    const r = dk('bootstrap', 'web-01', '--target', 'git@127.0.0.1', '--port', String(sshd.port), '--host-key', hostKeyFile,
      '--identity', operator.privateKeyPath, '--user', 'git', '--home', '/home/git', '--root', root);
    expect(r.code, r.err + r.out).toBe(0);
    const key = path.join(root, 'home/git/.ssh/nix-config-deploy');
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(statSync(key).uid).toBe(sshd.uid);
    expect(existsSync(path.join(root, 'home/git/nix-config/README.md'))).toBe(true);
    expect(r.out + r.err).not.toContain('PRIVATE KEY');
  });

  it('refuses a target whose host key does not match the pin, and writes nothing', () => {
    const root = targetRoot('impostor');
    const wrong = path.join(sshd.dir, 'wrong.pub');
    writeFileSync(wrong, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n');
    const r = dk('bootstrap', 'web-01', '--target', 'git@127.0.0.1', '--port', String(sshd.port), '--host-key', wrong,
      '--identity', operator.privateKeyPath, '--user', 'git', '--home', '/home/git', '--root', root);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
    expect(existsSync(path.join(root, 'home/git/.ssh'))).toBe(false);
  });
});
