/**
 * Tries to escape the ssh provider's forced command against the real sshd:
 * every remote command except an exact fetch of the registered repo must be
 * refused, nothing the client sends may run, and no other repo may be read.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { SshForge } from '../../scripts/lib/forge/ssh.js';
import { haveSshd, makeClientKey, startSshd, type ClientKey, type SshdFixture } from '../helpers/sshd.js';
import { repoConfig } from './fixtures.js';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describe.skipIf(!haveSshd())('ssh provider: the forced command cannot be escaped', () => {
  let sshd: SshdFixture;
  let key: ClientKey;
  let marker: string;
  let app: string;
  let other: string;

  /** Runs `ssh … git@127.0.0.1 [remote]` with the deploy key; stdin is empty. */
  const ssh = (remote: string | undefined): Promise<Result> =>
    new Promise((resolve) => {
      const args = [...sshd.sshCommand(key.privateKeyPath).split(' ').slice(1), '-T', '-p', String(sshd.port), 'git@127.0.0.1'];
      if (remote !== undefined) args.push(remote);
      const child = execFile('ssh', args, { timeout: 20_000 }, (e, stdout, stderr) =>
        resolve({ code: e ? (typeof (e as { code?: unknown }).code === 'number' ? (e as { code: number }).code : 255) : 0, stdout, stderr }),
      );
      child.stdin?.end();
    });

  beforeAll(async () => {
    sshd = await startSshd({ repos: ['acme/app', 'acme/other'] });
    return () => sshd.stop();
  });
  beforeAll(async () => {
    key = await makeClientKey(sshd.dir, 'deploy', 'web-01-app-deploy');
    marker = path.join(sshd.dir, 'marker');
    await fs.mkdir(marker, { mode: 0o777 });
    await fs.chmod(marker, 0o777);
    app = sshd.repoPath('acme/app');
    other = sshd.repoPath('acme/other');
    const forge = new SshForge({ config: { type: 'ssh', authorizedKeys: sshd.authorizedKeys } });
    await forge.add(repoConfig(sshd.repoUrl('acme/app'), 'app'), { title: 'web-01-app-deploy', publicKey: key.publicKey, readOnly: true });
  });

  it('control: the exact fetch command runs git-upload-pack for the registered repo', async () => {
    for (const p of [app, app.replace(/\.git$/, '')]) {
      const r = await ssh(`git-upload-pack '${p}'`);
      expect(r.stdout).toMatch(/refs\/heads\/main/);
    }
  });

  it('refuses everything else and runs nothing the client sent', async () => {
    const appDir = path.dirname(app);
    const attempts = [
      `git-upload-pack '${appDir}/../acme/other.git'`,
      `git-upload-pack '${app}/../other.git'`,
      `git-upload-pack '${other}'`,
      `git-upload-archive '${other}'`,
      `git-upload-pack '${app}';`,
      `git-upload-pack '${app}'; touch ${marker}/semicolon`,
      `git-upload-pack '${app}' && touch ${marker}/and`,
      `git-upload-pack '${app}' | touch ${marker}/pipe`,
      `git-upload-pack '${app}'\ntouch ${marker}/newline`,
      `touch ${marker}/first\ngit-upload-pack '${app}'`,
      `git-upload-pack '$(touch ${marker}/subst)'`,
      `git-upload-pack '\`touch ${marker}/backtick\`'`,
      `git-upload-pack "${app}"`,
      `git-upload-pack ${app}`,
      `git-upload-pack '${app.toUpperCase()}'`,
      `GIT-UPLOAD-PACK '${app}'`,
      `git-upload-pack '${app}/'`,
      `git-upload-pack '${app} '`,
      `git-upload-pack  '${app}'`,
      `git-upload-pack '${app}' `,
      `git-upload-pack --help '${app}'`,
      `git-receive-pack '${app}'`,
      `git-receive-pack '${app.replace(/\.git$/, '')}'`,
      `git upload-pack '${app}'`,
      `sh -c 'touch ${marker}/sh'`,
      `touch ${marker}/plain`,
      `*`,
      `git-upload-pack *`,
      `git-upload-pack '*'`,
      '',
    ];
    for (const cmd of attempts) {
      const r = await ssh(cmd);
      expect({ cmd, code: r.code, refused: r.stderr.includes('refused: this deploy key may only fetch') }).toEqual({ cmd, code: 1, refused: true });
      expect(r.stdout).not.toMatch(/refs\/heads/);
    }
    // No SSH_ORIGINAL_COMMAND at all (a login): refused too, no shell.
    const login = await ssh(undefined);
    expect(login.code).toBe(1);
    expect(login.stderr).toMatch(/refused/);
    expect(await fs.readdir(marker)).toEqual([]);
  });
});
