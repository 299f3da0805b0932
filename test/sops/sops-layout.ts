/**
 * Builds SOPS files the way sops lays them out, independently of the codec:
 * values sealed with node:crypto, the data key wrapped by the real `age` CLI.
 * Tests state which values sops encrypts and check that the codec agrees.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';

/** `ENC[AES256_GCM,…]` of `plaintext` under `key` with AAD `aad` (spec §1). */
export function seal(key: Uint8Array, plaintext: string, aad: string, type = 'str'): string {
  const iv = randomBytes(32);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(aad));
  const data = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
  return `ENC[AES256_GCM,data:${data.toString('base64')},iv:${iv.toString('base64')},tag:${c.getAuthTag().toString('base64')},type:${type}]`;
}

/** `age -r recipient -a` of the data key (stdin), indented as a YAML literal block under `enc: |`. */
export function ageEnc(key: Uint8Array, recipient: string, indent: string): string {
  const r = spawnSync('age', ['-r', recipient, '-a'], { input: Buffer.from(key) });
  if (r.status !== 0) throw new Error(`age failed: ${r.stderr.toString()}`);
  return r.stdout.toString().trimEnd().split('\n').map((l) => `${indent}${l}`).join('\n');
}

/**
 * The `sops:` block for `values` (every value's plaintext, in file order: the MAC
 * input) with one age recipient and the given rule line (e.g. `unencrypted_comment_regex: keep`).
 */
export function sopsBlock(key: Uint8Array, recipient: string, values: readonly string[], rule: string, version = '3.9.2'): string {
  const lastmodified = '2024-05-06T07:08:09Z';
  const mac = createHash('sha512');
  for (const v of values) mac.update(v, 'utf8');
  return [
    'sops:',
    '    age:',
    `        - recipient: ${recipient}`,
    '          enc: |',
    ageEnc(key, recipient, '            '),
    `    lastmodified: "${lastmodified}"`,
    `    mac: ${seal(key, mac.digest('hex').toUpperCase(), lastmodified)}`,
    `    ${rule}`,
    `    version: ${version}`,
    '',
  ].join('\n');
}
