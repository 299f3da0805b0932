/**
 * Fault injection against the GitHub double with real SOPS files: vm-fresh,
 * rotate and rotate --finish are interrupted after EVERY step, then re-run
 * through the CLI; the invariants must hold at the crash and after the re-run.
 *
 * In-process, the fault hook throws (the real CLI hook, DEPLOY_KEYS_FAULT,
 * SIGKILLs the process: exercised at the end against the built CLI).
 */
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { startGithubApiDouble, fingerprint, type GithubApiDouble } from '../doubles/github-api.js';
import { Lifecycle, readAuditLog, SopsHostKeys, wire, type LifecycleDeps } from '../../scripts/lib/lifecycle/index.js';
import { publicInfo } from '../../scripts/lib/sops/index.js';
import { Crash, crashAfter } from './fakes.js';
import type { HostResultJson, HostState, StatusJson } from '../helpers/cli-json.js';
import { haveTools } from '../helpers/tools.js';
import { assertCutOff, fleetWithSharedSecrets } from './revoked-host.js';
import { Fleet, REPOS } from './world.js';

const run = promisify(execFile);
const CLI = path.resolve('dist/scripts/cli/bin.js');

const fleets: { f: Fleet; gh: GithubApiDouble }[] = [];

afterEach(async () => {
  for (const { f, gh } of fleets.splice(0)) {
    await gh.close();
    f.cleanup();
  }
});

/** A fleet with its own GitHub double (every crash scenario starts from scratch). */
async function newFleet() {
  const gh = await startGithubApiDouble({ writesPerMinute: 0, writesPerHour: 0 });
  for (const full of Object.values(REPOS)) gh.addRepo(full);
  const f = await Fleet.create(gh);
  fleets.push({ f, gh });
  return f;
}

function io() {
  const stdin = new PassThrough();
  stdin.end();
  return { stdin, stdout: new PassThrough(), stderr: new PassThrough() };
}

async function deps(f: Fleet, fault?: (n: string) => void): Promise<LifecycleDeps> {
  const d = await wire(f.config(), f.env, io(), { withActivation: true });
  return fault ? { ...d, fault } : d;
}

/** Every registered key of the host has its private half stored, and the audit log names it. */
async function invariants(f: Fleet, host: string, where: string) {
  const stored = await f.storedFingerprints(host);
  const log = await readAuditLog(path.join(f.dir, 'sops'));
  for (const k of f.forgeKeys(host)) {
    const fp = fingerprint(k.key)!;
    expect(stored.has(fp), `${where}: ${k.repo} key ${k.id} has its private half stored`).toBe(true);
  }
  return { stored, log };
}

/** The keys installed on the host (its current keys at the last activation) are still registered. */
function stillValid(f: Fleet, host: string, installed: Map<string, string>, where: string) {
  const onForge = new Set(f.forgeKeys(host).map((k) => `${k.repo} ${fingerprint(k.key)}`));
  for (const [repo, fp] of installed) expect(onForge.has(`${repo} ${fp}`), `${where}: ${repo} keeps a valid key`).toBe(true);
}

async function currentKeys(f: Fleet, host: string): Promise<Map<string, string>> {
  const st = JSON.parse(await fs.readFile(path.join(f.dir, 'sops', 'deploy-keys-state', `${host}.json`), 'utf8')) as HostState;
  return new Map(Object.entries(st.repos).map(([r, s]) => [r, s.current!.fingerprint]));
}

async function stepNames(op: (lc: Lifecycle) => Promise<unknown>, prepare: (f: Fleet) => Promise<void>): Promise<string[]> {
  const f = await newFleet();
  await prepare(f);
  const rec = crashAfter('never');
  await op(new Lifecycle(await deps(f, rec.hook)));
  return rec.names;
}

describe('interrupted after every step, then re-run', () => {
  it('vm-fresh', async () => {
    const op = (lc: Lifecycle) => lc.vmFresh('web-01', { dryRun: false });
    const names = await stepNames(op, () => Promise.resolve());
    expect(names).toEqual(expect.arrayContaining(['write-host-file:1', 'forge-add:nix-config:current:call', 'forge-add:dotfiles:current', 'write-activation']));
    for (const name of names) {
      const f = await newFleet();
      await expect(op(new Lifecycle(await deps(f, crashAfter(name).hook)))).rejects.toBeInstanceOf(Crash);
      await invariants(f, 'web-01', `crash after ${name}`);
      const r = await f.cli(['vm-fresh', 'web-01', '--yes', '--json']);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
      const { stored, log } = await invariants(f, 'web-01', `re-run after ${name}`);
      expect(f.forgeKeys('web-01'), name).toHaveLength(2);
      expect(stored.size, name).toBe(2);
      for (const k of f.forgeKeys('web-01')) {
        expect(log.some((e) => (e.action === 'register' || e.action === 'record') && e.keyId === String(k.id)), `${name}: log names key ${k.id}`).toBe(true);
      }
      // Converged: a third run has nothing to do.
      const again = JSON.parse((await f.cli(['vm-fresh', 'web-01', '--yes', '--json'])).stdout) as HostResultJson;
      expect(again.plan.steps, name).toEqual([]);
      const st = JSON.parse((await f.cli(['status', '--json'])).stdout) as StatusJson;
      expect(st.hosts[0]!.interrupted, name).toBeNull();
    }
  });

  it('rotate and rotate --finish', async () => {
    const prepare = async (f: Fleet) => {
      expect((await f.cli(['vm-fresh', 'web-01', '--yes'])).code).toBe(0);
    };
    const rotate = (lc: Lifecycle) => lc.rotate('web-01', { dryRun: false, olderThanDays: 0 });
    const names = await stepNames(rotate, prepare);
    expect(names).toEqual(expect.arrayContaining(['write-host-file:1', 'forge-add:nix-config:next:call', 'write-host-file:2']));
    for (const name of names) {
      const f = await newFleet();
      await prepare(f);
      const installed = await currentKeys(f, 'web-01');
      await expect(rotate(new Lifecycle(await deps(f, crashAfter(name).hook)))).rejects.toBeInstanceOf(Crash);
      await invariants(f, 'web-01', `crash after ${name}`);
      stillValid(f, 'web-01', installed, `crash after ${name}`);
      const r = await f.cli(['rotate', 'web-01', '--older-than', '0', '--yes']);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
      await invariants(f, 'web-01', `re-run after ${name}`);
      stillValid(f, 'web-01', installed, `re-run after ${name}`);
      const tree = await f.decrypt('web-01');
      expect(tree['deploy-keys-next'], name).toBeUndefined();
      expect(Object.keys(tree['deploy-keys-previous'] as object).sort(), name).toEqual(['dotfiles', 'nix-config']);
      expect(f.forgeKeys('web-01'), name).toHaveLength(4);
    }

    const finishPrep = async (f: Fleet) => {
      await prepare(f);
      expect((await f.cli(['rotate', 'web-01', '--older-than', '0', '--yes'])).code).toBe(0);
    };
    const finish = (lc: Lifecycle) => lc.finish('web-01', { dryRun: false, graceDays: 7, force: true });
    const fnames = await stepNames(finish, finishPrep);
    expect(fnames.filter((n) => n.startsWith('forge-remove'))).toHaveLength(2);
    for (const name of fnames) {
      const f = await newFleet();
      await finishPrep(f);
      const installed = await currentKeys(f, 'web-01'); // the new keys, after activation
      await expect(finish(new Lifecycle(await deps(f, crashAfter(name).hook)))).rejects.toBeInstanceOf(Crash);
      await invariants(f, 'web-01', `crash after ${name}`);
      stillValid(f, 'web-01', installed, `crash after ${name}`);
      const r = await f.cli(['rotate', '--finish', '--force', 'web-01', '--yes']);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
      await invariants(f, 'web-01', `re-run after ${name}`);
      expect(f.forgeKeys('web-01'), name).toHaveLength(2);
      expect((await f.decrypt('web-01'))['deploy-keys-previous'], name).toBeUndefined();
    }
  });
});

describe('vm-fresh --new-host-key interrupted after every step, then re-run', () => {
  const hostKeys = (f: Fleet) => new SopsHostKeys(f.config(), f.env);
  const recipientsOf = async (file: string) => {
    const text = await fs.readFile(file, 'utf8').catch(() => undefined);
    return text === undefined ? [] : publicInfo(text, file).recipients;
  };

  /** A stored host key is never readable by a host; re-keyed files never keep a replaced recipient. */
  async function hostKeyInvariants(f: Fleet, where: string, old?: string) {
    const file = path.join(f.dir, 'sops', 'host-keys', 'web-01.yaml');
    if (existsSync(file)) expect(await recipientsOf(file), `${where}: host key for the operators only`).toEqual([f.recipient]);
    const key = await hostKeys(f).load('web-01');
    return { key, old };
  }

  /** After the re-run: one stored key, .sops.yaml and the host file name its recipient, the old one is gone everywhere. */
  async function converged(f: Fleet, where: string, old?: string) {
    const key = (await hostKeys(f).load('web-01'))!;
    expect(key, where).toBeDefined();
    const config = await fs.readFile(path.join(f.dir, '.sops.yaml'), 'utf8');
    expect(config, where).toContain(`&host_web-01 ${key.recipient}`);
    const hostFile = await recipientsOf(f.hostFile('web-01'));
    expect(hostFile, where).toContain(key.recipient);
    if (old !== undefined) {
      expect(config, where).not.toContain(old);
      expect(hostFile, where).not.toContain(old);
    }
    const st = JSON.parse(await fs.readFile(path.join(f.dir, 'sops', 'deploy-keys-state', 'web-01.json'), 'utf8')) as HostState;
    expect(st.hostKey?.fingerprint, where).toBe(key.fingerprint);
    expect(st.ageRecipient, where).toBe(key.recipient);
    expect(st.retiredRecipients, where).toBeUndefined();
    expect(f.forgeKeys('web-01'), where).toHaveLength(2);
    return key;
  }

  it('a new host', async () => {
    const op = (lc: Lifecycle) => lc.vmFresh('web-01', { dryRun: false, newHostKey: { force: false } });
    const names = await stepNames(op, () => Promise.resolve());
    expect(names.slice(0, 3)).toEqual(['host-keys-rule', 'create-host-key', 'add-recipient']);
    for (const name of names) {
      const f = await newFleet();
      await expect(op(new Lifecycle(await deps(f, crashAfter(name).hook)))).rejects.toBeInstanceOf(Crash);
      await hostKeyInvariants(f, `crash after ${name}`);
      await invariants(f, 'web-01', `crash after ${name}`);
      const r = await f.cli(['vm-fresh', 'web-01', '--new-host-key', '--yes']);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
      await converged(f, `re-run after ${name}`);
      const again = JSON.parse((await f.cli(['vm-fresh', 'web-01', '--new-host-key', '--yes', '--json'])).stdout) as HostResultJson;
      expect(again.plan.steps, name).toEqual([]);
    }
  });

  it('--force: the old key is re-keyed away from, and the re-run keeps the key the interrupted run made', async () => {
    const prepare = async (f: Fleet) => {
      expect((await f.cli(['vm-fresh', 'web-01', '--new-host-key', '--yes'])).code).toBe(0);
    };
    const op = (lc: Lifecycle) => lc.vmFresh('web-01', { dryRun: false, newHostKey: { force: true } });
    const names = await stepNames(op, prepare);
    expect(names).toEqual(expect.arrayContaining(['create-host-key', 'add-recipient', 'updatekeys:1', 'clear-retired']));
    for (const name of names) {
      const f = await newFleet();
      await prepare(f);
      const old = (await hostKeys(f).load('web-01'))!;
      await expect(op(new Lifecycle(await deps(f, crashAfter(name).hook)))).rejects.toBeInstanceOf(Crash);
      const { key: made } = await hostKeyInvariants(f, `crash after ${name}`, old.recipient);
      const r = await f.cli(['vm-fresh', 'web-01', '--new-host-key', '--force', '--yes']);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
      const key = await converged(f, `re-run after ${name}`, old.recipient);
      if (made && made.fingerprint !== old.fingerprint) expect(key.fingerprint, `${name}: not replaced twice`).toBe(made.fingerprint);
    }
  });
});

describe.skipIf(!haveTools('age', 'ssh-keygen'))('revoke interrupted after every step, then re-run', () => {
  it('the forge keys go, every file the host could read gets a new data key, the report stays complete', async () => {
    const revoke = (lc: Lifecycle) => lc.revoke('web-01', { dryRun: false, purge: false });
    const f0 = await newFleet();
    await fleetWithSharedSecrets(f0);
    const rec = crashAfter('never');
    await revoke(new Lifecycle(await deps(f0, rec.hook)));
    const names = rec.names;
    expect(names).toEqual(expect.arrayContaining(['record-revoked', 'remove-recipient', 'rotate-data-key:1', 'rotate-data-key:2', 'write-host-file:1', 'mark-revoked']));
    expect(names.filter((n) => n.startsWith('forge-remove:'))).toHaveLength(2);
    for (const name of names) {
      const f = await newFleet();
      const { web01, shared, before } = await fleetWithSharedSecrets(f);
      await expect(revoke(new Lifecycle(await deps(f, crashAfter(name).hook)))).rejects.toBeInstanceOf(Crash);
      const r = await f.cli(['revoke', 'web-01', '--yes', '--json']);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
      const res = JSON.parse(r.stdout) as HostResultJson;
      expect(res.resumed?.command, name).toBe('revoke');
      expect(res.exposed?.map((e) => e.file), name).toEqual(['sops/shared.yaml', 'sops/web-01.yaml']);
      expect(f.forgeKeys('web-01'), name).toHaveLength(0);
      await assertCutOff(f, web01, shared, before, `re-run after ${name}`);
      const again = JSON.parse((await f.cli(['revoke', 'web-01', '--yes', '--json'])).stdout) as HostResultJson;
      expect(again.plan.steps, name).toEqual([]);
    }
  });
});

describe('a repo taken from the host, interrupted after every step, then re-run', () => {
  /** web-01 has keys for both repos, then the config gives dotfiles to web-02 only. */
  const prepare = async (f: Fleet) => {
    expect((await f.cli(['vm-fresh', 'web-01', '--yes'])).code).toBe(0);
    const text = await fs.readFile(f.configFile, 'utf8');
    await fs.writeFile(f.configFile, text.replace('    url: git@github.com:acme/dotfiles.git\n', '    url: git@github.com:acme/dotfiles.git\n    hosts: [web-02]\n'));
  };

  for (const [command, op, rerun] of [
    ['vm-fresh', (lc: Lifecycle) => lc.vmFresh('web-01', { dryRun: false }), ['vm-fresh', 'web-01', '--yes']],
    ['rotate', (lc: Lifecycle) => lc.rotate('web-01', { dryRun: false, olderThanDays: 0 }), ['rotate', 'web-01', '--older-than', '0', '--yes']],
  ] as const) {
    it(`${command}: the key leaves the forge before the host file, and a re-run finishes`, async () => {
      const names = await stepNames(op, prepare);
      expect(names.slice(0, 2)).toEqual([expect.stringMatching(/^forge-remove:dotfiles:/), 'write-host-file:1']);
      for (const name of names) {
        const f = await newFleet();
        await prepare(f);
        const installed = new Map([...(await currentKeys(f, 'web-01'))].filter(([repo]) => repo === 'nix-config'));
        await expect(op(new Lifecycle(await deps(f, crashAfter(name).hook)))).rejects.toBeInstanceOf(Crash);
        await invariants(f, 'web-01', `crash after ${name}`);
        stillValid(f, 'web-01', installed, `crash after ${name}`);
        const r = await f.cli([...rerun]);
        expect(r.code, `${name}: ${r.stderr}`).toBe(0);
        await invariants(f, 'web-01', `re-run after ${name}`);
        expect(f.forgeKeys('web-01').filter((k) => k.repo === 'dotfiles'), name).toEqual([]);
        const tree = await f.decrypt('web-01');
        for (const slot of ['deploy-keys', 'deploy-keys-next', 'deploy-keys-previous']) expect(Object.keys((tree[slot] as object | undefined) ?? {}), `${name} ${slot}`).not.toContain('dotfiles');
        const st = JSON.parse(await fs.readFile(path.join(f.dir, 'sops', 'deploy-keys-state', 'web-01.json'), 'utf8')) as HostState;
        expect(Object.keys(st.repos), name).toEqual(['nix-config']);
        expect(st.operation, name).toBeUndefined();
      }
    });
  }
});

describe.skipIf(!existsSync(CLI))('the built CLI killed with SIGKILL (DEPLOY_KEYS_FAULT)', () => {
  it('vm-fresh killed right after the first registration converges on re-run; the stale lock is taken over', async () => {
    const f = await newFleet();
    const env = { ...f.env, DEPLOY_KEYS_CONFIG: f.configFile };
    const killed = await run('node', [CLI, 'vm-fresh', 'web-01', '--yes'], { env: { ...env, DEPLOY_KEYS_FAULT: 'after:forge-add:nix-config:current:call' }, cwd: f.dir }).catch((e: unknown) => e);
    expect(killed).toMatchObject({ signal: 'SIGKILL' });
    expect(existsSync(path.join(f.dir, 'sops', 'deploy-keys-state', 'web-01.lock'))).toBe(true);
    await invariants(f, 'web-01', 'after SIGKILL');
    expect(f.forgeKeys('web-01')).toHaveLength(1);
    const { stdout } = await run('node', [CLI, 'vm-fresh', 'web-01', '--yes'], { env, cwd: f.dir });
    expect(stdout).toMatch(/resuming an interrupted "vm-fresh"/);
    await invariants(f, 'web-01', 're-run');
    expect(f.forgeKeys('web-01')).toHaveLength(2);
  });
});
