/**
 * Whatever is written reads back (issue 10, finding 7): a 6 MB value set with
 * `sops set --value-file` decrypts again (YAML and JSON stores), and a value that
 * would push the file over the 16 MiB read limit is refused at write time.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { haveTools } from '../helpers/tools.js';
import { ageKeygen, tempDir } from './helpers.js';

const BIN = new URL('../../dist/scripts/cli/bin.js', import.meta.url).pathname;

function dk(args: string[], env: NodeJS.ProcessEnv, cwd: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd, input: '', env: { PATH: process.env.PATH, HOME: '/nonexistent', ...env }, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(!haveTools('age-keygen'))('large values (whole process)', () => {
  const dir = tempDir();
  const key = ageKeygen(dir);
  const env = { SOPS_AGE_KEY_FILE: key.file };
  writeFileSync(path.join(dir, '.sops.yaml'), `creation_rules:\n  - age: ${key.recipient}\n`);
  // 6 MB of text with escapes, as a JSON string in a file (never on the command line)
  const blob = randomBytes(4_500_000).toString('base64').replace(/(.{64})/g, '$1\n');
  const valueFile = path.join(dir, 'blob.json');
  writeFileSync(valueFile, JSON.stringify(blob));

  it.each(['yaml', 'json'])('a 6 MB value set in a %s file decrypts again', (ext) => {
    const file = path.join(dir, `host.${ext}`);
    writeFileSync(file, ext === 'json' ? '{"a": "b"}\n' : 'a: b\n');
    expect(dk(['sops', 'encrypt', '--in-place', file], env, dir).code).toBe(0);
    const set = dk(['sops', 'set', file, '["blob"]', '--value-file', valueFile], env, dir);
    expect(set).toMatchObject({ code: 0, stderr: '' });
    const r = dk(['sops', 'decrypt', file, '--extract', '["blob"]'], env, dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout === blob).toBe(true);
  });

  it('a value that would make the file unreadable is refused at write time; the file is unchanged', () => {
    const file = path.join(dir, 'limit.yaml');
    writeFileSync(file, 'a: b\n');
    expect(dk(['sops', 'encrypt', '--in-place', file], env, dir).code).toBe(0);
    const before = readFileSync(file, 'utf8');
    // base64 of 13 MB is 17.3 MB of ciphertext: over the 16 MiB readers accept
    writeFileSync(valueFile, JSON.stringify('x'.repeat(13_000_000)));
    const r = dk(['sops', 'set', file, '["blob"]', '--value-file', valueFile], env, dir);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/limit\.yaml: the result is 16\.\d MiB, over the 16 MiB limit/);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });
});
