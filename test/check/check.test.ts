/**
 * `deploy-keys check` against the real test sshd (the ssh forge provider
 * registers the keys in its authorized_keys): a working key, a key the forge
 * no longer has, a wrong repo, a changed host key, and an sshd that is down
 * and comes back (through probeHost with a clock that does not sleep).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, promises as fs, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decryptHostKeys } from '../../scripts/cli/host-script.js';
import { probeHost, type CheckJson } from '../../scripts/lib/check/index.js';
import type { Clock } from '../../scripts/lib/clock.js';
import { loadConfig } from '../../scripts/lib/config/load.js';
import { startGitServer } from '../../scripts/demo/local-git-server.js';
import { runCli } from '../helpers/run-cli.js';
import { haveSshd, startSshd, type SshdFixture } from '../helpers/sshd.js';

const REPOS = ['nix-config', 'nix-secrets'];
const HOST = 'web-01';

// os.tmpdir() follows TMPDIR: the check's temp dirs land where this file can see them.
let tmp: string;
beforeAll(async () => {
  const saved = process.env.TMPDIR;
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'dk-check-tmp-'));
  await fs.chmod(tmp, 0o711); // the test sshd's dirs go here too, and it reads them as its login account
  process.env.TMPDIR = tmp;
  return async () => {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
    await fs.rm(tmp, { recursive: true, force: true });
  };
});
/** What check leaves in the temp dir: nothing. */
const leftovers = () => readdirSync(tmp).filter((n) => n.includes('deploy-keys-check'));

describe.skipIf(!haveSshd())('check against a real sshd', () => {
  let sshd: SshdFixture;
  let work: string;
  let env: NodeJS.ProcessEnv;
  let authorizedKeys: string;

  const configFile = () => path.join(work, 'deploy-keys.yaml');
  const writeConfig = (o: { urls?: Record<string, string>; knownHostsLine?: string } = {}): void => {
    writeFileSync(
      configFile(),
      `secrets_dir: sops\nforge:\n  type: ssh\n  authorized_keys: ${sshd.authorizedKeys}\nknown_hosts:\n  - "${o.knownHostsLine ?? sshd.knownHostsLine()}"\nrepos:\n${REPOS.map(
        (r) => `  ${r}:\n    url: ${o.urls?.[r] ?? sshd.repoUrl(`acme/${r}`)}\n`,
      ).join('')}`,
    );
  };
  const dk = async (...args: string[]) => {
    const r = await runCli(['--config', configFile(), ...args], env, work);
    return { code: r.code, out: r.stdout, err: r.stderr };
  };
  const checkJson = async (...args: string[]) => {
    const r = await dk('check', ...args, '--json');
    return { code: r.code, json: JSON.parse(r.out) as CheckJson, err: r.err };
  };

  beforeAll(async () => {
    sshd = await startSshd({ repos: [...REPOS, 'other'].map((r) => `acme/${r}`) });
    work = path.join(sshd.dir, 'fleet');
    mkdirSync(path.join(work, 'sops'), { recursive: true });
    const identity = await generateX25519Identity();
    env = { PATH: process.env.PATH, HOME: work, SOPS_AGE_KEY: identity };
    writeFileSync(path.join(work, '.sops.yaml'), `creation_rules:\n  - path_regex: ^sops/[^/]+\\.yaml$\n    age: ${await identityToRecipient(identity)}\n`);
    writeConfig();
    const fresh = await dk('vm-fresh', HOST, '--yes');
    expect(fresh.code, fresh.err).toBe(0);
    authorizedKeys = await fs.readFile(sshd.authorizedKeys, 'utf8');
    return () => sshd.stop();
  });
  beforeEach(async () => {
    writeConfig();
    await fs.writeFile(sshd.authorizedKeys, authorizedKeys);
  });

  it('working keys: ok per repo through the alias, exit 0, the temp dir removed', async () => {
    const r = await dk('check', HOST);
    expect(r.code, r.err + r.out).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const [i, repo] of REPOS.entries()) {
      expect(lines[i]).toMatch(new RegExp(`^ok {3}${HOST} ${repo}: key SHA256:\\S+ \\(${HOST}-${repo}-deploy\\) reads \\S+ through 127\\.0\\.0\\.1-${repo}$`));
    }
    const { code, json } = await checkJson('--all');
    expect(code).toBe(0);
    expect(json.ok).toBe(true);
    expect(json.hosts.map((h) => [h.host, h.repos.map((x) => [x.repo, x.status, x.attempts])])).toEqual([[HOST, REPOS.map((x) => [x, 'ok', 1])]]);
    expect(leftovers()).toEqual([]);
  });

  it('a key the forge no longer has (revoked): auth, named key and repo, not retried', async () => {
    // The forge deletes the key, the host file still holds it.
    await fs.writeFile(sshd.authorizedKeys, authorizedKeys.split('\n').filter((l) => !l.includes(`${HOST}-nix-config-deploy`)).join('\n'));
    const { code, json } = await checkJson(HOST);
    expect(code).toBe(1);
    const [cfg, sec] = json.hosts[0]!.repos;
    expect([cfg!.status, cfg!.attempts, sec!.status]).toEqual(['auth', 1, 'ok']);
    expect(cfg!.message).toMatch(new RegExp(`^authentication failed: \\[127\\.0\\.0\\.1\\]:${sshd.port} refused key ${cfg!.fingerprint.replace(/[+/]/g, '\\$&')} \\(${HOST}-nix-config-deploy\\) for ssh://\\S+/acme/nix-config\\.git \\[.*Permission denied.*\\]; not retried`));
    const text = await dk('check', HOST);
    expect(text.code).toBe(1);
    expect(text.out).toMatch(/^FAIL web-01 nix-config: authentication failed/m);
    expect(text.out).toMatch(/^ok {3}web-01 nix-secrets:/m);
    expect(text.err).toBe('deploy-keys: check failed for: web-01\n');
    expect(leftovers()).toEqual([]);
  });

  it('a wrong repo: the key is accepted but cannot read it', async () => {
    writeConfig({ urls: { 'nix-secrets': sshd.repoUrl('acme/other') } });
    const { code, json } = await checkJson(HOST);
    expect(code).toBe(1);
    const sec = json.hosts[0]!.repos[1]!;
    expect([sec.status, sec.attempts]).toEqual(['repo', 1]);
    expect(sec.message).toMatch(/accepted key SHA256:\S+ \(web-01-nix-secrets-deploy\) but it cannot read ssh:\/\/\S+\/acme\/other\.git \[nix-deploy-keys: refused: this deploy key may only fetch \S+\/acme\/nix-secrets\.git\]/);
    expect(json.hosts[0]!.repos[0]!.status).toBe('ok');
  });

  it('a changed host key is its own error and never accepted', async () => {
    const other = path.join(sshd.dir, 'impostor');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const impostor = (await fs.readFile(`${other}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ');
    writeConfig({ knownHostsLine: `[127.0.0.1]:${sshd.port} ${impostor}` });
    const { code, json } = await checkJson(HOST);
    expect(code).toBe(1);
    for (const r of json.hosts[0]!.repos) {
      expect([r.status, r.attempts]).toEqual(['host-key', 1]);
      expect(r.message).toMatch(new RegExp(`^\\[127\\.0\\.0\\.1\\]:${sshd.port} presented a host key that matches none pinned for it \\[.*\\]; not accepted`));
    }
    expect(leftovers()).toEqual([]);
  });

  it('a host that cannot be decrypted is one line, and the other hosts are still checked', async () => {
    const r = await dk('check', HOST, 'db-01');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^ok {3}web-01 nix-config:/m);
    expect(r.out).toMatch(/^FAIL db-01: .*db-01\.yaml/m);
  });

  it('usage: hosts or --all', async () => {
    expect((await dk('check')).code).toBe(2);
    expect((await dk('check', HOST, '--all')).code).toBe(2);
    expect((await dk('check', '--help')).out).toMatch(/^Usage: deploy-keys check \[HOST…\|--all\] \[--json\]/);
  });
});

describe.skipIf(!haveSshd())('check while sshd is down', () => {
  let sshd: SshdFixture | undefined;
  let dir: string;
  let port: number;
  let authorizedKeys: string;
  let configFile: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'dk-check-sshd-'));
    const first = await startGitServer({ repos: REPOS.map((r) => `acme/${r}`), dir });
    port = first.port;
    const work = path.join(dir, 'fleet');
    mkdirSync(path.join(work, 'sops'), { recursive: true });
    const identity = await generateX25519Identity();
    env = { PATH: process.env.PATH, HOME: work, SOPS_AGE_KEY: identity };
    writeFileSync(path.join(work, '.sops.yaml'), `creation_rules:\n  - path_regex: ^sops/[^/]+\\.yaml$\n    age: ${await identityToRecipient(identity)}\n`);
    configFile = path.join(work, 'deploy-keys.yaml');
    writeFileSync(
      configFile,
      `secrets_dir: sops\nforge:\n  type: ssh\n  authorized_keys: ${first.authorizedKeys}\nknown_hosts:\n  - "${first.knownHostsLine()}"\nrepos:\n${REPOS.map((r) => `  ${r}:\n    url: ${first.repoUrl(`acme/${r}`)}\n`).join('')}`,
    );
    const fresh = await runCli(['--config', configFile, 'vm-fresh', HOST, '--yes'], env, work);
    expect(fresh.code, fresh.stderr).toBe(0);
    authorizedKeys = await fs.readFile(first.authorizedKeys, 'utf8');
    await first.stop();
  });
  afterAll(async () => {
    await sshd?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const probe = async (clock: Clock) => {
    const config = loadConfig(configFile);
    return probeHost(config, HOST, await decryptHostKeys(config, HOST, env), { env, clock });
  };

  it('never up: unreachable after 3 retries 2 s apart, the key not tried', async () => {
    const waits: number[] = [];
    const res = await probe({ now: () => Date.now(), sleep: async (ms) => void waits.push(ms) });
    expect(res.map((r) => [r.status, r.attempts])).toEqual(REPOS.map(() => ['unreachable', 4]));
    expect(res[0]!.detail).toMatch(/Connection refused/);
    expect(waits).toEqual(Array(6).fill(2000));
  });

  it('up during the retries: ok, after as many attempts as it took; the key dir is private while it exists', async () => {
    const waits: number[] = [];
    const modes: number[] = [];
    const clock: Clock = {
      now: () => Date.now(),
      async sleep(ms) {
        waits.push(ms);
        if (waits.length === 2) sshd = await startGitServer({ dir, port, authorizedKeys, hostKeyFile: path.join(dir, 'host_ed25519') });
      },
    };
    const seen: string[] = [];
    const config = loadConfig(configFile);
    const keys = await decryptHostKeys(config, HOST, env);
    const res = await probeHost(config, HOST, keys, {
      env,
      clock,
      onRetry: () => {
        for (const name of leftovers()) {
          const d = path.join(tmp, name);
          seen.push(d);
          modes.push(statSync(d).mode & 0o777, statSync(path.join(d, '.ssh', 'nix-config-deploy')).mode & 0o777);
        }
      },
    });
    expect(res.map((r) => [r.repo, r.status, r.attempts])).toEqual([
      ['nix-config', 'ok', 3],
      ['nix-secrets', 'ok', 1],
    ]);
    expect(waits).toEqual([2000, 2000]);
    expect(modes.length).toBeGreaterThan(0);
    expect(new Set(modes)).toEqual(new Set([0o700, 0o600]));
    for (const d of seen) expect(() => statSync(d)).toThrow();
  });
});
