/**
 * `vm-fresh --new-host-key` through the CLI (in-process) against the GitHub
 * double with real SOPS files: the host key in an operator-only file, the
 * host's recipient derived from it, re-runs that change nothing, and --force.
 */
import { promises as fs, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateDeployKey } from '../../scripts/lib/keys/index.js';
import { hostKeyInfo, SopsHostKeys } from '../../scripts/lib/lifecycle/index.js';
import { publicInfo } from '../../scripts/lib/sops/index.js';
import { encryptText } from '../../scripts/lib/sops/index.js';
import type { HostResultJson, HostState } from '../helpers/cli-json.js';
import { fleetPerTest, type Fleet } from './world.js';

let fleet: Fleet;
fleetPerTest((f) => (fleet = f));

const sopsYaml = () => fs.readFile(path.join(fleet.dir, '.sops.yaml'), 'utf8');
const hostKeyFile = (host: string) => path.join(fleet.dir, 'sops', 'host-keys', `${host}.yaml`);
const recipientsOf = async (file: string) => publicInfo(await fs.readFile(file, 'utf8'), file).recipients;
const state = async (host: string) => JSON.parse(await fs.readFile(path.join(fleet.dir, 'sops', 'deploy-keys-state', `${host}.json`), 'utf8')) as HostState;
const stored = async (host: string) => new SopsHostKeys(fleet.config(), fleet.env).load(host);
/** Every file under sops/ (state excluded) with its bytes. */
async function snapshot(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const e of await fs.readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else out.set(path.relative(fleet.dir, p), await fs.readFile(p, 'utf8'));
    }
  };
  await walk(fleet.dir);
  return out;
}

describe('vm-fresh --new-host-key', () => {
  it('makes the host key for the operators only, encrypts the host file for its recipient, and changes nothing on a re-run', async () => {
    const dry = await fleet.cli(['vm-fresh', 'web-01', '--new-host-key', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/generate web-01's ssh host key \(ssh-ed25519\) into .*host-keys\/web-01\.yaml, encrypted for the operators only/);
    expect(dry.stdout).toMatch(/add a \.sops\.yaml creation rule for the hosts' ssh host keys/);
    await expect(fs.access(hostKeyFile('web-01'))).rejects.toThrow();
    expect(await sopsYaml()).not.toMatch(/host-keys/);

    expect(dry.stdout).not.toMatch(/next:/);
    const r = await fleet.cli(['vm-fresh', 'web-01', '--new-host-key', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('next: install web-01 with its host key: deploy-keys extra-files web-01 -- nixos-anywhere');
    const key = await stored('web-01');
    expect(key?.publicKey).toMatch(/^ssh-ed25519 \S+ root@web-01$/);
    expect(statSync(hostKeyFile('web-01')).mode & 0o777).toBe(0o600);
    // Operators only; the host file for the operators and the host's derived recipient.
    expect(await recipientsOf(hostKeyFile('web-01'))).toEqual([fleet.recipient]);
    expect((await recipientsOf(fleet.hostFile('web-01'))).sort()).toEqual([fleet.recipient, key!.recipient].sort());
    const config = await sopsYaml();
    expect(config).toMatch(/^# fleet keys$/m);
    expect(config).toContain(`&host_web-01 ${key!.recipient}`);
    expect(config).toMatch(/# The hosts' ssh host keys .*operators only\.\n.*never add a host or an automation \(CI\) key here\.\n {2}- path_regex: \^sops\/host-keys\/\[\^\/\]\+\\\.yaml\$/);
    // First match wins: the host keys' rule comes before the catch-all.
    expect(config.indexOf('host-keys')).toBeLessThan(config.indexOf('^sops/.*'));
    const st = await state('web-01');
    expect(st.hostKey).toMatchObject({ publicKey: key!.publicKey, fingerprint: key!.fingerprint });
    expect(st.ageRecipient).toBe(key!.recipient);
    expect(JSON.stringify(st)).not.toMatch(/PRIVATE KEY/);
    expect(fleet.forgeKeys('web-01')).toHaveLength(2);

    const before = await snapshot();
    const writes = fleet.writeCount();
    const again = await fleet.cli(['vm-fresh', 'web-01', '--new-host-key', '--yes', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as HostResultJson).plan.steps).toEqual([]);
    expect(fleet.writeCount()).toBe(writes);
    const after = await snapshot();
    for (const [file, text] of before) if (!file.endsWith('.log.jsonl')) expect(after.get(file), file).toBe(text);
  });

  it('a host that already has a key keeps it: --force names the consequence, needs --yes without a terminal, and re-keys every file', async () => {
    expect((await fleet.cli(['vm-fresh', 'web-01', '--new-host-key', '--yes'])).code).toBe(0);
    const old = (await stored('web-01'))!;
    // Another file the host may read, through its anchor.
    const config = await sopsYaml();
    await fs.writeFile(path.join(fleet.dir, '.sops.yaml'), config.replace('creation_rules:\n', 'creation_rules:\n  - path_regex: ^sops/shared\\.yaml$\n    key_groups:\n      - age:\n          - *operator\n          - *host_web-01\n'));
    const shared = path.join(fleet.dir, 'sops', 'shared.yaml');
    await fs.writeFile(shared, await encryptText('db-password: x\n', { filePath: shared, cwd: fleet.dir, env: fleet.env }), { mode: 0o600 });
    expect(await recipientsOf(shared)).toContain(old.recipient);

    const refused = await fleet.cli(['vm-fresh', 'web-01', '--new-host-key', '--force']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/would REPLACE web-01's ssh host key .*every file encrypted for the old key is re-keyed, known_hosts entries for web-01 on other machines break.*stdin is not a terminal.*--yes/);
    expect((await stored('web-01'))!.fingerprint).toBe(old.fingerprint);

    const r = await fleet.cli(['vm-fresh', 'web-01', '--new-host-key', '--force', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    const fresh = (await stored('web-01'))!;
    expect(fresh.fingerprint).not.toBe(old.fingerprint);
    for (const f of [fleet.hostFile('web-01'), shared]) {
      const rec = await recipientsOf(f);
      expect(rec, f).toContain(fresh.recipient);
      expect(rec, f).not.toContain(old.recipient);
    }
    expect(await sopsYaml()).not.toContain(old.recipient);
    const st = await state('web-01');
    expect(st.ageRecipient).toBe(fresh.recipient);
    expect(st.retiredRecipients).toBeUndefined();
    expect((await fleet.decrypt('web-01'))['deploy-keys']).toBeDefined();
  });

  it('refuses to replace a recipient given earlier with --host-key (a real host key) without --force', async () => {
    const real = generateDeployKey('root@web-02').publicKey;
    expect((await fleet.cli(['vm-fresh', 'web-02', '--host-key', real, '--yes'])).code).toBe(0);
    const r = await fleet.cli(['vm-fresh', 'web-02', '--new-host-key', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/web-02 already has an ssh host key \(age recipient age1\S+\).*--force" replaces it: every file encrypted for the old key is re-keyed, and known_hosts entries for web-02 on other machines break/);
    await expect(fs.access(hostKeyFile('web-02'))).rejects.toThrow();
  });

  it('never stores a host key where a host could read it', async () => {
    expect((await fleet.cli(['vm-fresh', 'web-02', '--host-key', generateDeployKey('root@web-02').publicKey, '--yes'])).code).toBe(0);
    // Someone wrote the host keys' rule by hand and put a host in it.
    const config = await sopsYaml();
    await fs.writeFile(path.join(fleet.dir, '.sops.yaml'), config.replace('creation_rules:\n', 'creation_rules:\n  - path_regex: ^sops/host-keys/[^/]+\\.yaml$\n    age: [*operator, *host_web-02]\n'));
    const before = await snapshot();
    const r = await fleet.cli(['vm-fresh', 'web-01', '--new-host-key', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\.sops\.yaml would encrypt .*host-keys\/web-01\.yaml for a host's age recipient \(age1\S+\).*operators only/);
    expect(await snapshot()).toEqual(before);
  });

  it('the key a revoked host had is never used again, not even by a re-run', async () => {
    expect((await fleet.cli(['vm-fresh', 'web-01', '--new-host-key', '--yes'])).code).toBe(0);
    const old = (await stored('web-01'))!;
    expect((await fleet.cli(['revoke', 'web-01', '--yes'])).code).toBe(0);
    const r = await fleet.cli(['vm-fresh', 'web-01', '--new-host-key', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/holds the ssh host key of the revoked web-01; it is never used again/);
    const forced = await fleet.cli(['vm-fresh', 'web-01', '--new-host-key', '--force', '--yes']);
    expect(forced.code, forced.stderr).toBe(0);
    const fresh = (await stored('web-01'))!;
    expect(fresh.fingerprint).not.toBe(old.fingerprint);
    expect(await recipientsOf(fleet.hostFile('web-01'))).toContain(fresh.recipient);
  });

  it('the stored key is what sops-nix derives the recipient from (ssh-to-age)', async () => {
    expect((await fleet.cli(['vm-fresh', 'web-01', '--new-host-key', '--yes'])).code).toBe(0);
    const priv = await new SopsHostKeys(fleet.config(), fleet.env).privateKey('web-01');
    expect(priv).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
    expect(await hostKeyInfo(priv!, 'key')).toEqual(await stored('web-01'));
  });

  it('--host-key and --new-host-key exclude each other; --force needs --new-host-key', async () => {
    const both = await fleet.cli(['vm-fresh', 'web-01', '--new-host-key', '--host-key', 'x']);
    expect(both.code).toBe(2);
    expect((await fleet.cli(['vm-fresh', 'web-01', '--force'])).code).toBe(2);
  });
});
