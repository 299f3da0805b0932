import { promises as fs } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { KeyInUse } from '../../scripts/lib/forge/errors.js';
import { SshForge } from '../../scripts/lib/forge/ssh.js';
import { findByFingerprint } from '../../scripts/lib/forge/register.js';
import {
  BLOCK_BEGIN,
  BLOCK_END,
  forcedCommand,
  ManagedBlockError,
  parseAuthorizedKeys,
  renderAuthorizedKeys,
} from '../../scripts/lib/forge/ssh-authorized-keys.js';
import { git, gitTestEnv } from '../helpers/git-server.js';
import { haveSshd, makeClientKey, startSshd, type ClientKey, type SshdFixture } from '../helpers/sshd.js';
import { repoConfig, testPublicKey } from './fixtures.js';

describe('managed block (pure)', () => {
  const userText = '# operator keys\r\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl  admin@laptop\n\n  # trailing   spaces  \nno-newline-at-end';

  it('appends a block without touching other lines, and round-trips', () => {
    const p = parseAuthorizedKeys(userText);
    expect(p.hasBlock).toBe(false);
    expect(p.outsideKeys).toHaveLength(1);
    const k = testPublicKey();
    const key = k.line.split(' ').slice(0, 2).join(' ');
    const text = renderAuthorizedKeys(p, [{ id: '0123456789abcdef', repoPath: '/srv/git/acme/app.git', key, title: 'web-01-app-deploy', createdAt: '2026-01-01T00:00:00Z' }]);
    expect(text.startsWith(`${userText}\n${BLOCK_BEGIN}\n`)).toBe(true);
    expect(text.endsWith(`${BLOCK_END}\n`)).toBe(true);
    // The id must match the key: a tampered id is refused.
    expect(() => parseAuthorizedKeys(text)).toThrow(ManagedBlockError);
  });

  it('keeps the text before and after an existing block byte for byte', () => {
    const before = '# a\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl x\n';
    const after = '\n# after\t\n  \nlast';
    const text = `${before}${BLOCK_BEGIN}\n${BLOCK_END}\n${after}`;
    const p = parseAuthorizedKeys(text);
    expect(p.before).toBe(before);
    expect(p.after).toBe(after);
    expect(renderAuthorizedKeys(p, [])).toBe(text);
  });

  it('refuses broken or duplicated blocks', () => {
    expect(() => parseAuthorizedKeys(`${BLOCK_BEGIN}\n`)).toThrow(/broken managed block/);
    expect(() => parseAuthorizedKeys(`${BLOCK_END}\n${BLOCK_BEGIN}\n`)).toThrow(/broken/);
    expect(() => parseAuthorizedKeys(`${BLOCK_BEGIN}\n${BLOCK_END}\n${BLOCK_BEGIN}\n${BLOCK_END}\n`)).toThrow(/more than one/);
    expect(() => parseAuthorizedKeys(`${BLOCK_BEGIN}\nssh-ed25519 AAAA x\n${BLOCK_END}\n`)).toThrow(/without its metadata/);
  });

  it('the forced command is one line without double quotes and only for safe paths', () => {
    const c = forcedCommand('/srv/git/acme/app.git');
    expect(c).not.toMatch(/["\n]/);
    expect(c).toContain(`exec git-upload-pack '/srv/git/acme/app.git'`);
    expect(c).not.toContain('receive-pack');
    expect(() => forcedCommand("/srv/x'; rm -rf /; '")).toThrow();
    expect(() => forcedCommand('/srv/$(id)')).toThrow();
  });
});

describe.skipIf(!haveSshd())('ssh provider against a real sshd', () => {
  let sshd: SshdFixture;
  let forge: SshForge;
  let a: ClientKey;
  let b: ClientKey;
  const userLines = '# operator lines (must survive byte for byte)\n\n  # indented comment\t\n';
  const app = () => repoConfig(sshd.repoUrl('acme/app'), 'app');
  const other = () => repoConfig(sshd.repoUrl('acme/other'), 'other');
  const clone = (key: ClientKey, url: string, dest: string) =>
    git(['clone', '-q', url, path.join(sshd.dir, dest)], { env: gitTestEnv(sshd.gitEnv(key.privateKeyPath)) });

  beforeAll(async () => {
    sshd = await startSshd({ repos: ['acme/app', 'acme/other'], authorizedKeys: userLines });
    return () => sshd.stop();
  });
  beforeAll(async () => {
    forge = new SshForge({ config: { type: 'ssh', authorizedKeys: sshd.authorizedKeys } });
    a = await makeClientKey(sshd.dir, 'a', 'web-01-app-deploy');
    b = await makeClientKey(sshd.dir, 'b', 'web-01-other-deploy');
  });

  it('preflight checks the file, the directory and the login shell', async () => {
    const r = await forge.preflight([app(), other()]);
    expect(r.ok).toBe(true);
    expect(r.checked.join('\n')).toMatch(/login shell is \/bin\/sh/);
    expect(r.repos.map((x) => x.ok)).toEqual([true, true]);
  });

  it('a registered key clones its repo, cannot push, cannot read another repo', async () => {
    const added = await forge.add(app(), { title: 'web-01-app-deploy', publicKey: a.publicKey, readOnly: true, host: 'web-01' });
    await forge.add(other(), { title: 'web-01-other-deploy', publicKey: b.publicKey, readOnly: true });
    expect(added).toMatchObject({ status: 'registered', readOnly: true, title: 'web-01-app-deploy' });
    expect(added.id).toMatch(/^[0-9a-f]{16}$/);

    const text = await fs.readFile(sshd.authorizedKeys, 'utf8');
    expect(text.startsWith(userLines)).toBe(true);
    for (const l of text.split('\n').filter((x) => x.includes('ssh-ed25519') && x.includes('deploy'))) expect(l).toMatch(/^restrict,command="/);

    await clone(a, sshd.repoUrl('acme/app'), 'app1');
    expect(await fs.readFile(path.join(sshd.dir, 'app1', 'README.md'), 'utf8')).toBe('# acme/app\n');
    // Without .git suffix as well.
    await clone(a, sshd.repoUrl('acme/app').replace(/\.git$/, ''), 'app1b');

    await expect(clone(a, sshd.repoUrl('acme/other'), 'other-with-a')).rejects.toThrow(/refused: this deploy key may only fetch/);
    await clone(b, sshd.repoUrl('acme/other'), 'other1');

    const work = path.join(sshd.dir, 'app1');
    await fs.writeFile(path.join(work, 'x'), 'x');
    await git(['add', 'x'], { cwd: work });
    await git(['commit', '-q', '-m', 'x'], { cwd: work });
    await expect(
      git(['push', '-q', 'origin', 'main'], { cwd: work, env: gitTestEnv(sshd.gitEnv(a.privateKeyPath)) }),
    ).rejects.toThrow(/refused/);
    expect(await git(['--git-dir', sshd.repoPath('acme/app'), 'log', '--oneline'])).not.toMatch(/ x$/m);

    // No shell either.
    const { execFile } = await import('node:child_process');
    const shell = await new Promise<{ code: number | null; err: string }>((resolve) => {
      execFile('sh', ['-c', `${sshd.sshCommand(a.privateKeyPath)} -p ${sshd.port} git@127.0.0.1 id`], (e, _o, err) =>
        resolve({ code: e ? (e as { code?: number }).code ?? 1 : 0, err }),
      );
    });
    expect(shell.code).not.toBe(0);
    expect(shell.err).toMatch(/refused/);
  });

  it('is idempotent, refuses the same key for another repo, lists by repo', async () => {
    const again = await forge.add(app(), { title: 'other title', publicKey: a.publicKey, readOnly: true });
    expect(again.title).toBe('web-01-app-deploy');
    await expect(forge.add(other(), { title: 't', publicKey: a.publicKey, readOnly: true })).rejects.toBeInstanceOf(KeyInUse);
    const keys = await forge.list(app());
    expect(keys).toHaveLength(1);
    expect(keys[0]!.publicKey).toBe(a.publicKey.split(' ').slice(0, 2).join(' '));
    expect(await findByFingerprint(forge, other(), keys[0]!.fingerprint)).toBeUndefined();
  });

  it('a hand-edited line is reported as not read-only and repaired by add', async () => {
    const text = await fs.readFile(sshd.authorizedKeys, 'utf8');
    await fs.writeFile(sshd.authorizedKeys, text.replace(/^restrict,(command="[^\n]*acme\/app\.git[^\n]*)$/m, 'no-pty,$1'));
    expect((await forge.list(app()))[0]!.readOnly).toBe(false);
    await forge.add(app(), { title: 'web-01-app-deploy', publicKey: a.publicKey, readOnly: true });
    expect((await forge.list(app()))[0]!.readOnly).toBe(true);
    expect(await fs.readFile(sshd.authorizedKeys, 'utf8')).toBe(text);
  });

  it('a removed key cannot clone; removing again succeeds; operator lines untouched', async () => {
    const [k] = await forge.list(app());
    await forge.remove(app(), k!.id);
    await forge.remove(app(), k!.id);
    expect(await forge.list(app())).toEqual([]);
    await expect(clone(a, sshd.repoUrl('acme/app'), 'app2')).rejects.toThrow(/Permission denied|Could not read/);
    await clone(b, sshd.repoUrl('acme/other'), 'other2');
    const text = await fs.readFile(sshd.authorizedKeys, 'utf8');
    expect(text.startsWith(userLines)).toBe(true);
    const st = await fs.stat(sshd.authorizedKeys);
    expect(st.uid).toBe(sshd.uid);
    expect(st.mode & 0o777).toBe(0o644);
  });
});

describe.skipIf(!haveSshd())('ssh provider, remote mode (file edited through ssh target)', () => {
  it('reads and atomically rewrites a remote authorized_keys through `ssh target`', async () => {
    const sshd = await startSshd();
    onTestFinished(() => sshd.stop());
    const admin = await makeClientKey(sshd.dir, 'admin');
    await fs.appendFile(sshd.authorizedKeys, `${admin.publicKey}\n`);
    // A file the git account can replace (its directory is git's).
    const dir = path.join(sshd.dir, 'remote-home');
    await fs.mkdir(dir, { mode: 0o700 });
    const file = path.join(dir, 'authorized_keys');
    const operator = '# operator line\n';
    await fs.writeFile(file, operator, { mode: 0o600 });
    await fs.chown(dir, sshd.uid, sshd.gid);
    await fs.chown(file, sshd.uid, sshd.gid);
    const forge = new SshForge({
      config: { type: 'ssh', authorizedKeys: file, target: 'git@127.0.0.1', port: sshd.port },
      sshArgs: ['-F', '/dev/null', '-i', admin.privateKeyPath, '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${sshd.knownHostsFile}`, '-o', 'GlobalKnownHostsFile=/dev/null'],
    });
    const repo = repoConfig('ssh://git@127.0.0.1:2222/srv/git/acme/app.git', 'app');
    const k = testPublicKey();
    const added = await forge.add(repo, { title: 'web-01-app-deploy', publicKey: k.line, readOnly: true });
    expect(added.fingerprint).toBe(k.fingerprint);
    const text = await fs.readFile(file, 'utf8');
    expect(text.startsWith(operator)).toBe(true);
    expect(text).toContain(`exec git-upload-pack '/srv/git/acme/app.git'`);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect(await forge.list(repo)).toHaveLength(1);
    await forge.remove(repo, added.id);
    expect(await forge.list(repo)).toEqual([]);
    expect((await forge.preflight([repo])).ok).toBe(true);
  });
});
