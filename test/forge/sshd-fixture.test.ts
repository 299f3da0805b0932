import { promises as fs } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { git, gitTestEnv } from '../helpers/git-server.js';
import { haveSshd, makeClientKey, startSshd, type SshdFixture } from '../helpers/sshd.js';

describe.skipIf(!haveSshd())('sshd fixture', () => {
  let sshd: SshdFixture;
  beforeAll(async () => {
    sshd = await startSshd({ repos: ['acme/app'] });
    return () => sshd.stop();
  });

  it('serves a seeded bare repo to a key in authorized_keys, pinned host key', async () => {
    expect(sshd.knownHostsLine()).toMatch(new RegExp(`^\\[127\\.0\\.0\\.1\\]:${sshd.port} ssh-ed25519 AAAA\\S+$`));
    const key = await makeClientKey(sshd.dir, 'plain');
    await fs.appendFile(sshd.authorizedKeys, `${key.publicKey}\n`);
    const dest = path.join(sshd.dir, 'clone');
    await git(['clone', '-q', sshd.repoUrl('acme/app'), dest], { env: gitTestEnv(sshd.gitEnv(key.privateKeyPath)) });
    expect(await fs.readFile(path.join(dest, 'README.md'), 'utf8')).toBe('# acme/app\n');
  });

  it('refuses a key that is not authorized', async () => {
    const key = await makeClientKey(sshd.dir, 'stranger');
    const dest = path.join(sshd.dir, 'clone2');
    await expect(
      git(['clone', '-q', sshd.repoUrl('acme/app'), dest], { env: gitTestEnv(sshd.gitEnv(key.privateKeyPath)) }),
    ).rejects.toThrow(/Permission denied|Could not read/);
  });

  it('stop() kills sshd and removes the temp dir', async () => {
    const other = await startSshd();
    await other.stop();
    await expect(fs.stat(other.dir)).rejects.toThrow();
    await other.stop();
  });
});
