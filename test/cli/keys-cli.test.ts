import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { identityToRecipient } from 'age-encryption';
import { describe, expect, it } from 'vitest';
import { haveTools } from '../helpers/tools.js';

const BIN = new URL('../../dist/scripts/cli/bin.js', import.meta.url).pathname;
const dk = (args: string[], input = '') => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', input, env: { PATH: process.env.PATH } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

describe.skipIf(!haveTools('ssh-keygen'))('keygen and ssh-to-age (whole process)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dk-keys-cli-'));

  it('keygen writes a 0600 key ssh-keygen accepts and prints only the public half', () => {
    const file = path.join(dir, 'web-01-nix-config');
    const r = dk(['keygen', '-f', file, '--host', 'web-01', '--repo', 'nix-config']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ssh-ed25519 AAAA[A-Za-z0-9+/]+ web-01-nix-config-deploy\n$/);
    expect(r.stdout + r.stderr).not.toContain('PRIVATE KEY');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(execFileSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' }).trim()).toBe(r.stdout.trim());
    const fp = execFileSync('ssh-keygen', ['-lf', file], { encoding: 'utf8' }).split(' ')[1];
    expect(r.stderr).toContain(fp);
    expect(dk(['keygen', '-f', file]).code).toBe(1); // no silent overwrite
    expect(dk(['keygen', '-f', path.join(dir, 'x'), '--host', 'a b', '--repo', 'r']).code).toBe(2);
  });

  it('ssh-to-age agrees with the conversion of the private key', async () => {
    const file = path.join(dir, 'host');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file]);
    const pub = dk(['ssh-to-age', `${file}.pub`]);
    expect(pub.code, pub.stderr).toBe(0);
    const idFile = path.join(dir, 'host.agekey');
    expect(dk(['ssh-to-age', '--private-key', file, '-o', idFile]).code).toBe(0);
    expect(statSync(idFile).mode & 0o777).toBe(0o600);
    expect(pub.stdout.trim()).toBe(await identityToRecipient(readFileSync(idFile, 'utf8').trim()));
    // ssh-keyscan style input on stdin, with a host field.
    const scan = dk(['ssh-to-age', '-'], `# comment\n10.0.0.5 ${readFileSync(`${file}.pub`, 'utf8')}`);
    expect(scan.stdout).toBe(pub.stdout);
  });
});
