/** The extra-files tree layout, the nixos-anywhere command line and the known_hosts pin (pure parts). */
import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hostKeyEntries, installTarget, nixosAnywhereArgv, pinHostKey, shellLine } from '../../scripts/lib/extra-files/index.js';
import { generateDeployKey } from '../../scripts/lib/keys/index.js';
import { UsageError } from '../../scripts/lib/errors.js';

const key = generateDeployKey('root@web-01');
const old = generateDeployKey('root@web-01');
const blob = (k: { publicKey: string }) => k.publicKey.split(' ')[1]!;
const hashed = (name: string) => {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
};

describe('the tree', () => {
  it('puts the key where sshd and sops-nix look, with every directory on the way 0755', () => {
    const e = hostKeyEntries('/persist/etc/ssh/ssh_host_ed25519_key', key.privateKey, key.publicKey);
    expect(e.map((x) => `${x.path} ${x.kind} ${x.mode.toString(8)}`)).toEqual([
      'persist dir 755',
      'persist/etc dir 755',
      'persist/etc/ssh dir 755',
      'persist/etc/ssh/ssh_host_ed25519_key file 600',
      'persist/etc/ssh/ssh_host_ed25519_key.pub file 644',
    ]);
    expect(e.at(-1)!.content).toBe(`${key.publicKey}\n`);
  });

  it('refuses paths that are not plain absolute paths', () => {
    for (const p of ['etc/ssh/key', '/etc/../root/key', '/etc/ssh/', '/etc//ssh/key', '/etc/ssh/key name', '/etc/./ssh/key']) {
      expect(() => hostKeyEntries(p, key.privateKey, key.publicKey), p).toThrow(UsageError);
    }
  });
});

describe('the nixos-anywhere command', () => {
  it('names the flake, the tree, the port and the target; quotes what a shell would mangle', () => {
    const t = installTarget('root@192.0.2.10', 2222);
    expect(t.knownHostsName).toBe('[192.0.2.10]:2222');
    const argv = nixosAnywhereArgv('/tmp/web 01', '.#web-01', t);
    expect(argv).toEqual(['nixos-anywhere', '--flake', '.#web-01', '--extra-files', '/tmp/web 01', '-p', '2222', '--target-host', 'root@192.0.2.10']);
    expect(shellLine(argv)).toBe("nixos-anywhere --flake '.#web-01' --extra-files '/tmp/web 01' -p 2222 --target-host root@192.0.2.10");
    expect(installTarget('root@Web-01.Example.org', undefined).knownHostsName).toBe('web-01.example.org');
  });

  it('refuses a target without a user, option-like targets and bad ports', () => {
    expect(() => installTarget('192.0.2.10', undefined)).toThrow(UsageError);
    expect(() => installTarget('root@-oProxyCommand=x', undefined)).toThrow(UsageError);
    expect(() => installTarget('root@h', 0)).toThrow(UsageError);
    expect(() => installTarget('root@h', 70000)).toThrow(UsageError);
  });
});

describe('the known_hosts pin', () => {
  it('adds the line to an empty or unrelated file, keeping every other line', () => {
    const other = '# mine\nexample.org ssh-rsa AAAAB3NzaC1yc2E\n@cert-authority *.example.org ssh-ed25519 AAAAC3Nz\n';
    const r = pinHostKey(other, '[192.0.2.10]:2222', key.publicKey);
    expect(r).toEqual({ text: `${other}[192.0.2.10]:2222 ssh-ed25519 ${blob(key)}\n`, changed: true });
    expect(pinHostKey('', 'web-01', key.publicKey).text).toBe(`web-01 ssh-ed25519 ${blob(key)}\n`);
  });

  it('is a no-op when the host is pinned to this key already', () => {
    const text = `web-01 ssh-ed25519 ${blob(key)}\n`;
    expect(pinHostKey(text, 'WEB-01', key.publicKey)).toEqual({ text, changed: false });
  });

  it('removes an older ed25519 key for the name, plain, hashed or on a shared line; other names and key types stay', () => {
    const text = [
      `web-01 ssh-ed25519 ${blob(old)}`,
      `${hashed('web-01')} ssh-ed25519 ${blob(old)}`,
      `web-01,192.0.2.10 ssh-ed25519 ${blob(old)} comment`,
      `web-01 ssh-rsa AAAAB3NzaC1yc2E`,
      `${hashed('web-02')} ssh-ed25519 ${blob(old)}`,
      '',
    ].join('\n');
    const r = pinHostKey(text, 'web-01', key.publicKey);
    expect(r.changed).toBe(true);
    const lines = r.text.split('\n');
    expect(lines.filter((l) => l.includes(blob(old)))).toEqual([`192.0.2.10 ssh-ed25519 ${blob(old)} comment`, text.split('\n')[4]]);
    expect(lines).toContain('web-01 ssh-rsa AAAAB3NzaC1yc2E');
    expect(lines).toContain(`web-01 ssh-ed25519 ${blob(key)}`);
  });
});
