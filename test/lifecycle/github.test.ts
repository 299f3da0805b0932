/**
 * The life cycle end to end: CLI (in-process) → GitHub API double, real SOPS
 * host files encrypted for an age identity generated here.
 */
import { promises as fs, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GithubApiDouble } from '../doubles/github-api.js';
import { encryptText } from '../../scripts/lib/sops/index.js';
import { generateDeployKey } from '../../scripts/lib/keys/index.js';
import { readAuditLog } from '../../scripts/lib/lifecycle/index.js';
import type { AuditJson, HostResultJson, HostState, RotateJson, StatusJson } from '../helpers/cli-json.js';
import { fleetPerTest, REPOS, type Fleet } from './world.js';

let gh: GithubApiDouble;
let fleet: Fleet;
fleetPerTest((f) => {
  fleet = f;
  gh = f.gh;
});

/** Every forge key of the host has its private half in the host file. */
async function assertConsistent(host: string) {
  const stored = await fleet.storedFingerprints(host);
  const { fingerprint } = await import('../doubles/github-api.js');
  for (const k of fleet.forgeKeys(host)) expect(stored.has(fingerprint(k.key)!), `${k.repo} ${k.id}`).toBe(true);
}

describe('vm-fresh against the GitHub double', () => {
  it('creates keys, host file, registrations and activation script; a second run writes nothing', async () => {
    const r = await fleet.cli(['vm-fresh', 'web-01', '--yes']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const tree = await fleet.decrypt('web-01');
    expect(Object.keys(tree['deploy-keys'] as object).sort()).toEqual(['dotfiles', 'nix-config']);
    expect(statSync(fleet.hostFile('web-01')).mode & 0o777).toBe(0o600);
    const keys = fleet.forgeKeys('web-01');
    expect(keys).toHaveLength(2);
    expect(keys.every((k) => k.read_only)).toBe(true);
    await assertConsistent('web-01');
    const act = path.join(fleet.dir, 'activation', 'web-01.sh');
    expect((await fs.readFile(act, 'utf8')).startsWith('#!')).toBe(true);
    const state = JSON.parse(await fs.readFile(path.join(fleet.dir, 'sops', 'deploy-keys-state', 'web-01.json'), 'utf8')) as HostState;
    expect(state.repos['nix-config']!.current!.forgeId).toBe(String(keys.find((k) => k.repo === 'nix-config')!.id));
    expect(JSON.stringify(state)).not.toMatch(/PRIVATE KEY/);
    const log = await readAuditLog(path.join(fleet.dir, 'sops'));
    expect(log.filter((e) => e.action === 'register').map((e) => e.keyId).sort()).toEqual(keys.map((k) => String(k.id)).sort());
    expect(log.every((e) => e.actor === 'tester')).toBe(true);
    expect(JSON.stringify(log)).not.toMatch(/PRIVATE KEY/);

    const writes = fleet.writeCount();
    const before = await fs.readFile(fleet.hostFile('web-01'), 'utf8');
    const r2 = await fleet.cli(['vm-fresh', 'web-01', '--yes', '--json']);
    expect(r2.code).toBe(0);
    const j = JSON.parse(r2.stdout) as HostResultJson;
    expect(j.changed).toBe(false);
    expect(j.plan.steps).toEqual([]);
    expect(fleet.writeCount()).toBe(writes);
    expect(await fs.readFile(fleet.hostFile('web-01'), 'utf8')).toBe(before);
  });

  it('keeps the secrets the user stores in the host file', async () => {
    const file = fleet.hostFile('web-02');
    await fs.writeFile(file, await encryptText('wifi-password: hunter2\ndeploy-keys:\n  old-repo: "not managed"\n', { filePath: file, cwd: fleet.dir, env: fleet.env }), { mode: 0o600 });
    const r = await fleet.cli(['vm-fresh', 'web-02', '--yes']);
    expect(r.code).toBe(0);
    const tree = await fleet.decrypt('web-02');
    expect(tree['wifi-password']).toBe('hunter2');
    expect((tree['deploy-keys'] as Record<string, string>)['old-repo']).toBe('not managed');
    expect(Object.keys(tree['deploy-keys'] as object).sort()).toEqual(['dotfiles', 'nix-config', 'old-repo']);
  });

  it('--host-key adds the host as a recipient in .sops.yaml and re-keys its file; --dry-run touches nothing', async () => {
    const hostKey = generateDeployKey('root@web-03').publicKey;
    const dry = await fleet.cli(['vm-fresh', 'web-03', '--host-key', hostKey, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/add age recipient age1/);
    expect(dry.stdout).toMatch(/register read-only deploy key web-03-nix-config-deploy on nix-config/);
    await expect(fs.access(fleet.hostFile('web-03'))).rejects.toThrow();
    expect(fleet.writeCount()).toBe(0);

    const r = await fleet.cli(['vm-fresh', 'web-03', '--host-key', hostKey, '--yes']);
    expect(r.code).toBe(0);
    const sopsYaml = await fs.readFile(path.join(fleet.dir, '.sops.yaml'), 'utf8');
    expect(sopsYaml).toMatch(/# fleet keys/);
    expect(sopsYaml).toMatch(/&host_web-03/);
    const text = await fs.readFile(fleet.hostFile('web-03'), 'utf8');
    const { publicInfo } = await import('../../scripts/lib/sops/index.js');
    const rec = publicInfo(text, fleet.hostFile('web-03')).recipients;
    expect(rec).toContain(fleet.recipient);
    expect(rec.some((x) => x !== fleet.recipient)).toBe(true);
    const audit = await fleet.cli(['audit', '--json']);
    expect((JSON.parse(audit.stdout) as AuditJson).findings).toEqual([]);
    expect(audit.code).toBe(0);
  });
});

describe('vm-fresh for several hosts in one run', () => {
  const LIST = '/repos/{owner}/{repo}/keys';
  const repoCount = Object.keys(REPOS).length;

  it('lists each repo once for the whole run (the preflight listing serves every host), not once or twice per host', async () => {
    const hosts = ['web-01', 'web-02', 'web-03', 'web-04'];
    const r = await fleet.cli(['vm-fresh', ...hosts, '--yes', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { results: HostResultJson[]; failures: unknown[] };
    expect(j.results.map((x) => [x.host, x.changed])).toEqual(hosts.map((h) => [h, true]));
    expect(j.failures).toEqual([]);
    expect(gh.countRequests('GET', LIST)).toBe(repoCount);
    expect(gh.countRequests('POST', LIST)).toBe(hosts.length * repoCount);
    for (const h of hosts) {
      expect(fleet.forgeKeys(h)).toHaveLength(repoCount);
      await assertConsistent(h);
    }
    // Again: nothing to do, and still one listing per repo.
    const lists = gh.countRequests('GET', LIST);
    const writes = fleet.writeCount();
    const r2 = await fleet.cli(['vm-fresh', ...hosts, '--yes']);
    expect(r2.code).toBe(0);
    expect(gh.countRequests('GET', LIST) - lists).toBe(repoCount);
    expect(fleet.writeCount()).toBe(writes);
  });

  it('a host that fails is reported and the others are provisioned (exit 1); per-host options need one host', async () => {
    await fs.writeFile(fleet.hostFile('web-02'), 'not: a sops file\n', { mode: 0o600 });
    const r = await fleet.cli(['vm-fresh', 'web-01', 'web-02', 'web-03', '--yes', '--json']);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout) as { results: HostResultJson[]; failures: { host: string; error: string }[] };
    expect(j.results.map((x) => x.host)).toEqual(['web-01', 'web-03']);
    expect(j.failures.map((f) => f.host)).toEqual(['web-02']);
    expect(r.stderr).toMatch(/^deploy-keys: web-02: /m);
    expect(fleet.forgeKeys('web-03')).toHaveLength(repoCount);
    const u = await fleet.cli(['vm-fresh', 'web-04', 'web-05', '--output', 'x.sh']);
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/one host/);
    expect((await fleet.cli(['vm-fresh', 'web-04', 'web-04'])).code).toBe(2);
  });
});

describe('manual registration', () => {
  it('--manual without a terminal records keys as pending; a later run with the token registers them', async () => {
    const r = await fleet.cli(['vm-fresh', 'web-01', '--manual', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as HostResultJson;
    expect(j.keys.map((k) => k.status)).toEqual(['pending', 'pending']);
    expect(r.stderr).toMatch(/web-01-nix-config-deploy/);
    expect(fleet.writeCount()).toBe(0);
    const st = JSON.parse((await fleet.cli(['status', '--json'])).stdout) as StatusJson;
    expect(st.hosts[0]!.rows.map((x) => x.registration)).toEqual(['pending', 'pending']);
    const r2 = await fleet.cli(['vm-fresh', 'web-01', '--yes', '--json']);
    expect((JSON.parse(r2.stdout) as HostResultJson).keys.map((k) => k.status)).toEqual(['registered', 'registered']);
    await assertConsistent('web-01');
  });
});

describe('rotate, finish, revoke, status, audit', () => {
  it('rotates without downtime and finishes', async () => {
    expect((await fleet.cli(['vm-fresh', 'web-01', '--yes'])).code).toBe(0);
    const old = fleet.forgeKeys('web-01');
    const r = await fleet.cli(['rotate', 'web-01', '--older-than', '0', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(fleet.forgeKeys('web-01')).toHaveLength(4);
    const tree = await fleet.decrypt('web-01');
    expect(Object.keys(tree['deploy-keys-previous'] as object).sort()).toEqual(['dotfiles', 'nix-config']);
    await assertConsistent('web-01');

    const st = JSON.parse((await fleet.cli(['status', '--json'])).stdout) as StatusJson;
    const rows = st.hosts[0]!.rows;
    expect(rows.filter((x) => x.slot === 'previous')).toHaveLength(2);
    expect(rows.every((x) => x.rotation === 'awaiting-finish' && x.registration === 'registered')).toBe(true);

    // Not used yet, grace period not over: finish keeps the old keys.
    const wait = await fleet.cli(['rotate', '--finish', 'web-01', '--yes']);
    expect(wait.code).toBe(0);
    expect(wait.stdout).toMatch(/not used yet/);
    expect(fleet.forgeKeys('web-01')).toHaveLength(4);
    // Non-interactive deletion without --yes is refused.
    const noYes = await fleet.cli(['rotate', '--finish', '--force', 'web-01']);
    expect(noYes.code).toBe(1);
    expect(noYes.stderr).toMatch(/--yes/);
    // The new nix-config key gets used: that repo finishes, dotfiles waits.
    const fresh = fleet.forgeKeys('web-01').filter((k) => !old.some((o) => o.id === k.id));
    gh.touch(REPOS['nix-config'], fresh.find((k) => k.repo === 'nix-config')!.id);
    await fleet.cli(['rotate', '--finish', 'web-01', '--yes']);
    expect(fleet.forgeKeys('web-01')).toHaveLength(3);
    const f = await fleet.cli(['rotate', '--finish', '--force', 'web-01', '--yes']);
    expect(f.code).toBe(0);
    const left = fleet.forgeKeys('web-01');
    expect(left.map((k) => k.id).sort()).toEqual(fresh.map((k) => k.id).sort());
    expect((await fleet.decrypt('web-01'))['deploy-keys-previous']).toBeUndefined();
    await assertConsistent('web-01');
    const log = await readAuditLog(path.join(fleet.dir, 'sops'));
    expect(log.filter((e) => e.action === 'forge-remove').map((e) => e.keyId).sort()).toEqual(old.map((k) => String(k.id)).sort());
  });

  it('rotate --all skips revoked hosts and young keys; --dry-run changes nothing', async () => {
    for (const h of ['web-01', 'web-02', 'web-03']) expect((await fleet.cli(['vm-fresh', h, '--yes'])).code).toBe(0);
    expect((await fleet.cli(['revoke', 'web-03', '--yes'])).code).toBe(0);
    const young = JSON.parse((await fleet.cli(['rotate', '--all', '--yes', '--json'])).stdout) as RotateJson;
    expect(young.results.map((r) => r.host)).toEqual(['web-01', 'web-02']);
    expect(young.results.every((r) => !r.changed)).toBe(true);
    const writes = fleet.writeCount();
    const dry = await fleet.cli(['rotate', '--all', '--older-than', '0', '--dry-run']);
    expect(dry.stdout).toMatch(/generate web-01-nix-config-deploy into deploy-keys-next.nix-config/);
    expect(fleet.writeCount()).toBe(writes);
    const r = JSON.parse((await fleet.cli(['rotate', '--all', '--older-than', '0', '--yes', '--json'])).stdout) as RotateJson;
    expect(r.failures).toEqual([]);
    expect(fleet.forgeKeys('web-01')).toHaveLength(4);
    expect(fleet.forgeKeys('web-02')).toHaveLength(4);
    expect(fleet.forgeKeys('web-03')).toHaveLength(0);
  });

  it('revokes one host (fingerprint and title), others unaffected; audit flags strays', async () => {
    const hk = generateDeployKey('root@web-01').publicKey;
    expect((await fleet.cli(['vm-fresh', 'web-01', '--host-key', hk, '--yes'])).code).toBe(0);
    expect((await fleet.cli(['vm-fresh', 'web-02', '--yes'])).code).toBe(0);
    // A stray key titled like web-01's.
    gh.seedKey(REPOS.dotfiles, { key: generateDeployKey('x').publicKey, title: 'web-01-dotfiles-deploy' });
    const dry = await fleet.cli(['revoke', 'web-01', '--dry-run']);
    expect(dry.stdout.match(/delete deploy key/g)).toHaveLength(3);
    const noYes = await fleet.cli(['revoke', 'web-01']);
    expect(noYes.code).toBe(1);
    expect(fleet.forgeKeys('web-01')).toHaveLength(3);

    // A secret of the user's beside the keys: revoke lists its path (never its value).
    expect((await fleet.cli(['sops', 'set', fleet.hostFile('web-01'), '["wifi"]["psk"]', '"hunter2"'])).code).toBe(0);
    const r = await fleet.cli(['revoke', 'web-01', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/web-01 could read these secret values.*\n {4}sops\/web-01\.yaml: \["wifi"\]\["psk"\]\n/);
    expect(r.stdout).not.toMatch(/hunter2|\["deploy-keys"\]/);
    expect(fleet.forgeKeys('web-01')).toHaveLength(0);
    expect(fleet.forgeKeys('web-02')).toHaveLength(2);
    const tree = await fleet.decrypt('web-01');
    expect(tree['deploy-keys']).toBeUndefined();
    const sopsYaml = await fs.readFile(path.join(fleet.dir, '.sops.yaml'), 'utf8');
    expect(sopsYaml).not.toMatch(/web-01/);
    await assertConsistent('web-02');

    // audit: clean, then an unknown key and a write-enabled key appear.
    const a = await fleet.cli(['audit']);
    expect(a.code, a.stdout).toBe(0);
    gh.seedKey(REPOS['nix-config'], { key: generateDeployKey('y').publicKey, title: 'intruder' });
    gh.seedKey(REPOS['nix-config'], { key: generateDeployKey('z').publicKey, title: 'web-01-nix-config-deploy' });
    const a2 = await fleet.cli(['audit', '--json']);
    expect(a2.code).toBe(1);
    const kinds = (JSON.parse(a2.stdout) as AuditJson).findings.map((x) => x.kind);
    expect(kinds).toContain('unknown-key');
    expect(kinds).toContain('revoked-host-key');

    // --purge deletes the file.
    const p = await fleet.cli(['revoke', 'web-01', '--purge', '--yes']);
    expect(p.code).toBe(0);
    await expect(fs.access(fleet.hostFile('web-01'))).rejects.toThrow();
    expect(fleet.forgeKeys('web-01')).toHaveLength(0);
  });
});

describe('bad input', () => {
  it('bad host names are usage errors', async () => {
    for (const bad of ['../x', 'a b', 'a'.repeat(64), 'UPPER']) {
      const r = await fleet.cli(['vm-fresh', bad]);
      expect(r.code, bad).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect((await fleet.cli(['rotate'])).code).toBe(2);
    expect((await fleet.cli(['rotate', '--all', 'web-01'])).code).toBe(2);
    expect((await fleet.cli(['rotate', 'web-01', '--older-than', 'x'])).code).toBe(2);
    expect(fleet.writeCount()).toBe(0);
  });

  it('a missing token names the variable and suggests --manual', async () => {
    const r = await fleet.cli(['vm-fresh', 'web-01'], { GH_TOKEN: '' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/GH_TOKEN/);
    expect(r.stderr).toMatch(/--manual/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    await expect(fs.access(fleet.hostFile('web-01'))).rejects.toThrow();
  });

  it('a host file the operator cannot decrypt: one clear line, nothing written', async () => {
    const { generateX25519Identity, identityToRecipient } = await import('age-encryption');
    const other = await identityToRecipient(await generateX25519Identity());
    const file = fleet.hostFile('web-09');
    const text = await encryptText('secret: x\n', { filePath: file, recipients: [other], env: fleet.env });
    await fs.writeFile(file, text, { mode: 0o600 });
    const r = await fleet.cli(['vm-fresh', 'web-09', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(await fs.readFile(file, 'utf8')).toBe(text);
    expect(fleet.writeCount()).toBe(0);
    await expect(fs.access(path.join(fleet.dir, 'sops', 'deploy-keys-state', 'web-09.json'))).rejects.toThrow();
  });

  it('a .sops.yaml without a rule for the new host file: one line, nothing written', async () => {
    await fs.writeFile(path.join(fleet.dir, '.sops.yaml'), `creation_rules:\n  - path_regex: ^other/.*\\.yaml$\n    age: ${fleet.recipient}\n`);
    const r = await fleet.cli(['vm-fresh', 'web-01', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no .sops.yaml creation rule matches/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(fleet.writeCount()).toBe(0);
    await expect(fs.access(path.join(fleet.dir, 'sops', 'deploy-keys-state', 'web-01.json'))).rejects.toThrow();
    await expect(fs.access(fleet.hostFile('web-01'))).rejects.toThrow();
  });

  it('a held lock is a clear error; a stale one is taken over', async () => {
    const dir = path.join(fleet.dir, 'sops', 'deploy-keys-state');
    await fs.mkdir(dir, { recursive: true });
    const os = await import('node:os');
    await fs.writeFile(path.join(dir, 'web-01.lock'), JSON.stringify({ pid: process.pid, machine: os.hostname(), command: 'rotate', startedAt: 'x' }));
    const r = await fleet.cli(['vm-fresh', 'web-01', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/web-01 is locked by "rotate" \(pid \d+/);
    await fs.writeFile(path.join(dir, 'web-01.lock'), JSON.stringify({ pid: 2 ** 22 + 7, machine: os.hostname(), command: 'rotate', startedAt: 'x' }));
    const r2 = await fleet.cli(['vm-fresh', 'web-01', '--yes']);
    expect(r2.code, r2.stderr).toBe(0);
    await expect(fs.access(path.join(dir, 'web-01.lock'))).rejects.toThrow();
  });
});
