/**
 * A fleet in which web-01 can read its own host file and a shared file, as a
 * host does: through the age identity sops-nix derives from its ssh host key.
 * What a compromised host keeps (its identity and old copies of the files) is
 * then tried against the files revoke wrote.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { parseDocument } from 'yaml';
import { decryptLoaded, loadEncrypted } from '../../scripts/lib/sops/sops-file.js';
import type { Fleet } from './world.js';

export interface HostIdentity {
  host: string;
  /** AGE-SECRET-KEY file converted from the host's ssh host key (what sops-nix decrypts with). */
  identityFile: string;
  recipient: string;
}

/** An ssh host key made by ssh-keygen, provisioned with vm-fresh --host-key; returns its age identity. */
export async function provisionWithHostKey(f: Fleet, host: string): Promise<HostIdentity> {
  const key = path.join(f.dir, `${host}_ssh_host_ed25519_key`);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `root@${host}`, '-f', key]);
  const vm = await f.cli(['vm-fresh', host, '--host-key', `${key}.pub`, '--yes']);
  expect(vm.code, vm.stderr).toBe(0);
  const identityFile = path.join(f.dir, `${host}.age`);
  const conv = await f.cli(['ssh-to-age', '--private-key', key, '-o', identityFile]);
  expect(conv.code, conv.stderr).toBe(0);
  const recipient = (await f.cli(['ssh-to-age', `${key}.pub`])).stdout.trim();
  return { host, identityFile, recipient };
}

/**
 * web-01 and web-02 with host keys; web-01's file holds a secret of the user's
 * beside its deploy keys; sops/shared.yaml is encrypted for the operator and
 * both hosts. Returns the hosts' identities and the files as they were.
 */
export async function fleetWithSharedSecrets(f: Fleet) {
  const web01 = await provisionWithHostKey(f, 'web-01');
  const web02 = await provisionWithHostKey(f, 'web-02');
  expect((await f.cli(['sops', 'set', f.hostFile('web-01'), '["wifi"]["psk"]', '"correct horse"'])).code).toBe(0);
  // The shared file's rule names the hosts through their anchors, as vm-fresh wrote them.
  const sopsYaml = path.join(f.dir, '.sops.yaml');
  const config = await fs.readFile(sopsYaml, 'utf8');
  await fs.writeFile(
    sopsYaml,
    config.replace(
      'creation_rules:\n',
      'creation_rules:\n  - path_regex: ^sops/shared\\.yaml$\n    key_groups:\n      - age:\n          - *operator\n          - *host_web-01\n          - *host_web-02\n',
    ),
  );
  const shared = path.join(f.dir, 'sops', 'shared.yaml');
  await fs.writeFile(shared, 'db:\n  user: app\n  password: s3cret\napi_tokens:\n  - tok-1\n  - tok-2\n');
  const enc = await f.cli(['sops', 'encrypt', shared, '--in-place']);
  expect(enc.code, enc.stderr).toBe(0);
  const before = { host: await fs.readFile(f.hostFile('web-01'), 'utf8'), shared: await fs.readFile(shared, 'utf8') };
  expect(ageEntry(before.shared, web01.recipient)).toBeDefined();
  expect(ageEntry(before.host, web01.recipient)).toBeDefined();
  return { web01, web02, shared, before };
}

function ageEntry(text: string, recipient: string): string | undefined {
  const meta = (parseDocument(text).toJS() as { sops: { age?: { recipient: string; enc: string }[] } }).sops;
  return meta.age?.find((a) => a.recipient === recipient)?.enc;
}

/** The data key of `text` as the host recovers it: the age CLI with the host's identity, on the host's stanza. */
export function dataKeyWith(text: string, id: HostIdentity): Buffer | undefined {
  const entry = ageEntry(text, id.recipient);
  if (entry === undefined) return undefined;
  const r = spawnSync('age', ['-d', '-i', id.identityFile], { input: entry });
  return r.status === 0 ? r.stdout : undefined;
}

/** Whether `key` decrypts `text` (every value, MAC verified). */
export function keyOpens(key: Buffer, text: string, file: string): boolean {
  try {
    decryptLoaded(loadEncrypted(text, 'yaml', file), key);
    return true;
  } catch {
    return false;
  }
}

/**
 * What a revoked host holds after the fact: its identity opens no stanza of
 * the current files, and the data keys of its old copies open nothing in them.
 */
export async function assertCutOff(f: Fleet, id: HostIdentity, shared: string, before: { host: string; shared: string }, where: string): Promise<void> {
  for (const [file, old] of [
    [f.hostFile('web-01'), before.host],
    [shared, before.shared],
  ] as const) {
    const now = await fs.readFile(file, 'utf8');
    expect(dataKeyWith(now, id), `${where}: ${file} has no stanza for the revoked host`).toBeUndefined();
    const oldKey = dataKeyWith(old, id);
    expect(oldKey, `${where}: the host's old copy of ${file} opens with its identity`).toBeDefined();
    expect(keyOpens(oldKey!, old, file), `${where}: control: the old key opens the old copy`).toBe(true);
    expect(keyOpens(oldKey!, now, file), `${where}: the old data key opens ${file} as revoke left it`).toBe(false);
  }
}
