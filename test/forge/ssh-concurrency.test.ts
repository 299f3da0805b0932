/**
 * Two writers of one authorized_keys (two runs of the tool for different
 * hosts, each with its own provider): no registration may be lost.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SshForge } from '../../scripts/lib/forge/ssh.js';
import { repoConfig, testPublicKey } from './fixtures.js';

let dir: string;
let file: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ndk-ak-'));
  file = path.join(dir, 'authorized_keys');
  await fs.writeFile(file, '# operator line\n', { mode: 0o600 });
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('ssh provider: concurrent writers of one authorized_keys', () => {
  it('adds and removes through two providers at once lose nothing', async () => {
    const repo = repoConfig('ssh://git@git.example.com/srv/git/acme/app.git', 'app');
    const forges = [0, 1].map(() => new SshForge({ config: { type: 'ssh', authorizedKeys: file } }));
    const seeded = await forges[0]!.add(repo, { title: 'old-deploy', publicKey: testPublicKey().line, readOnly: true });
    const keys = Array.from({ length: 16 }, () => testPublicKey());
    await Promise.all([
      ...keys.map((k, i) => forges[i % 2]!.add(repo, { title: `h${i}-app-deploy`, publicKey: k.line, readOnly: true })),
      forges[1]!.remove(repo, seeded.id),
    ]);
    const listed = await forges[0]!.list(repo);
    expect(listed.map((k) => k.fingerprint).sort()).toEqual(keys.map((k) => k.fingerprint).sort());
    expect(listed.every((k) => k.readOnly)).toBe(true);
    expect((await fs.readFile(file, 'utf8')).startsWith('# operator line\n')).toBe(true);
    expect((await fs.readdir(dir)).sort()).toEqual(['authorized_keys']);
  });

  it('a lock left by a dead process is taken over', async () => {
    await fs.writeFile(`${file}.ndk-lock`, JSON.stringify({ pid: 2 ** 22 + 12345, machine: os.hostname(), startedAt: new Date().toISOString() }));
    const f = new SshForge({ config: { type: 'ssh', authorizedKeys: file } });
    const repo = repoConfig('ssh://git@git.example.com/srv/git/acme/app.git', 'app');
    await f.add(repo, { title: 't', publicKey: testPublicKey().line, readOnly: true });
    expect(await f.list(repo)).toHaveLength(1);
    expect((await fs.readdir(dir)).sort()).toEqual(['authorized_keys']);
  });
});
