/**
 * End to end against the GitLab API double, through the real CLI: the double
 * grants exactly what GitLab would (each deploy key linked to a project may
 * fetch that project, read-only, until its expires_at) on a real sshd on
 * loopback serving bare repos. vm-fresh → activate → clone → rotate (and
 * --finish) → revoke, checked by cloning with the keys the host holds.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { beforeAll, describe, expect, it } from 'vitest';
import { forcedCommand } from '../../scripts/lib/forge/index.js';
import { startGitlabApiDouble, type GitlabApiDouble, type GitlabLink } from '../doubles/gitlab-api.js';
import { validateGitlabResponses } from '../doubles/gitlab-schema.js';
import type { AuditJson } from '../helpers/cli-json.js';
import { gitTestEnv } from '../helpers/git-server.js';
import { haveSshd, startSshd, type SshdFixture } from '../helpers/sshd.js';
import { haveTools } from '../helpers/tools.js';

const BIN = new URL('../../dist/scripts/cli/bin.js', import.meta.url).pathname;
const REPOS = ['nix-config', 'nix-secrets'];
const HOST = 'web-01';

/** GitLab's `expires_at` as OpenSSH's `expiry-time` (UTC, minutes). */
function expiryTime(iso: string): string {
  return new Date(iso).toISOString().replace(/[-:T]/g, '').slice(0, 12) + 'Z';
}

describe.skipIf(!(haveSshd() && haveTools('git', 'ssh-keygen')))('host life cycle against the GitLab double and a real sshd', () => {
  let sshd: SshdFixture;
  let gl: GitlabApiDouble;
  let work: string;
  let sandbox: string;
  let env: NodeJS.ProcessEnv;
  const grants: GitlabLink[][] = [];

  /** The CLI in a child process; asynchronous, since the double answers from this process. */
  const dk = (...args: string[]) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const c = spawn(process.execPath, [BIN, ...args], { cwd: work, env, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr.on('data', (d: Buffer) => (err += d.toString()));
      c.stdin.end();
      c.on('close', (code) => resolve({ code, out, err }));
    });
  const ssh = (p: string) => path.join(sandbox, 'root/.ssh', p);
  const projectOf = (r: string) => sshd.repoPath(`acme/${r}`).replace(/^\//, '').replace(/\.git$/, '');
  /** A fetch of `repo` with exactly `keyFile`, through the host's pinned known_hosts. */
  const cloneWith = (keyFile: string, repo: string, dest: string) =>
    spawnSync('git', ['clone', '-q', sshd.repoUrl(`acme/${repo}`), dest], {
      encoding: 'utf8',
      env: gitTestEnv({ GIT_SSH_COMMAND: `ssh -F /dev/null -o IdentitiesOnly=yes -o IdentityFile=${keyFile} -o UserKnownHostsFile=${ssh('deploy-keys_known_hosts')} -o StrictHostKeyChecking=yes` }),
    });

  beforeAll(async () => {
    sshd = await startSshd({ repos: REPOS.map((r) => `acme/${r}`) });
    return () => sshd.stop();
  });
  beforeAll(async () => {
    // GitLab grants what its links say: each linked key may fetch its project, read-only, until it
    // expires. (A key linked to two projects gets the first one: sshd uses the first matching line.)
    gl = await startGitlabApiDouble({
      onLinksChanged: async (links) => {
        grants.push(links);
        const lines = links.map(
          (l) => `restrict,${l.expiresAt ? `expiry-time="${expiryTime(l.expiresAt)}",` : ''}command="${forcedCommand(`/${l.projectPath}.git`)}" ${l.key} gitlab-key-${l.keyId}`,
        );
        await writeFile(sshd.authorizedKeys, lines.map((l) => `${l}\n`).join(''));
      },
    });
    return async () => {
      expect(validateGitlabResponses(gl.responses)).toEqual([]);
      await gl.close();
    };
  });
  beforeAll(async () => {
    for (const r of REPOS) gl.addProject(projectOf(r));
    work = path.join(sshd.dir, 'fleet');
    sandbox = path.join(sshd.dir, 'sandbox');
    mkdirSync(path.join(work, 'sops'), { recursive: true });
    for (const d of ['root', 'etc']) mkdirSync(path.join(sandbox, d), { recursive: true });
    const identity = await generateX25519Identity();
    env = { PATH: process.env.PATH, HOME: work, SOPS_AGE_KEY: identity, GITLAB_TOKEN: gl.token };
    writeFileSync(path.join(work, '.sops.yaml'), `creation_rules:\n  - path_regex: ^sops/[^/]+\\.yaml$\n    age: ${await identityToRecipient(identity)}\n`);
    writeFileSync(
      path.join(work, 'deploy-keys.yaml'),
      `secrets_dir: sops\nforge:\n  type: gitlab\n  api_url: ${gl.url}\n  token_env: GITLAB_TOKEN\nknown_hosts:\n  - "${sshd.knownHostsLine()}"\nrepos:\n${REPOS.map((r) => `  ${r}:\n    url: ${sshd.repoUrl(`acme/${r}`)}\n    clone_to: /root/${r}\n`).join('')}rotation:\n  max_age_days: 30\n  grace_days: 5\n`,
    );
  });

  it('vm-fresh registers read-only keys that expire with the rotation policy; activate clones both repos', async () => {
    const fresh = await dk('vm-fresh', HOST, '--yes');
    expect(fresh.code, fresh.err).toBe(0);
    for (const r of REPOS) {
      const keys = gl.keysOf(projectOf(r));
      expect(keys.map((k) => [k.title, k.can_push])).toEqual([[`${HOST}-${r}-deploy`, false]]);
      // max_age_days + grace_days.
      expect(Math.round((Date.parse(keys[0]!.expires_at!) - Date.now()) / 86_400_000)).toBe(35);
    }
    expect(readFileSync(sshd.authorizedKeys, 'utf8')).toMatch(/restrict,expiry-time="\d{12}Z",command=/);

    const act = await dk('activate', HOST, '--root', sandbox);
    expect(act.code, act.err + act.out).toBe(0);
    for (const r of REPOS) expect(existsSync(path.join(sandbox, 'root', r, 'README.md'))).toBe(true);
  });

  it("each key fetches its own repo only and cannot push", () => {
    const other = cloneWith(ssh('nix-config-deploy'), 'nix-secrets', path.join(sshd.dir, 'cross'));
    expect(other.status).not.toBe(0);
    expect(other.stderr).toMatch(/refused|may only fetch/);
    const clone = path.join(sandbox, 'root', 'nix-config');
    writeFileSync(path.join(clone, 'x'), 'x');
    const push = spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qam', 'x', '--allow-empty'], { cwd: clone, encoding: 'utf8', env: gitTestEnv() });
    expect(push.status).toBe(0);
    const r = spawnSync('git', ['push', sshd.repoUrl('acme/nix-config'), 'HEAD:main'], {
      cwd: clone,
      encoding: 'utf8',
      env: gitTestEnv({ GIT_SSH_COMMAND: `ssh -F /dev/null -o IdentitiesOnly=yes -o IdentityFile=${ssh('nix-config-deploy')} -o UserKnownHostsFile=${ssh('deploy-keys_known_hosts')}` }),
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/refused|may only fetch/);
  });

  it('rotate registers new keys, the host picks them up, --finish unlinks the old ones: the old key no longer fetches', async () => {
    copyFileSync(ssh('nix-config-deploy'), path.join(sshd.dir, 'old-nix-config-deploy'));
    const rot = await dk('rotate', HOST, '--older-than', '0', '--yes');
    expect(rot.code, rot.err).toBe(0);
    expect(gl.keysOf(projectOf('nix-config'))).toHaveLength(2);
    const act = await dk('activate', HOST, '--root', sandbox);
    expect(act.code, act.err + act.out).toBe(0);
    expect(readFileSync(ssh('nix-config-deploy'), 'utf8')).not.toBe(readFileSync(path.join(sshd.dir, 'old-nix-config-deploy'), 'utf8'));
    expect(cloneWith(ssh('nix-config-deploy'), 'nix-config', path.join(sshd.dir, 'new-key')).status).toBe(0);

    const fin = await dk('rotate', '--finish', '--force', HOST, '--yes');
    expect(fin.code, fin.err).toBe(0);
    for (const r of REPOS) expect(gl.keysOf(projectOf(r))).toHaveLength(1);
    const old = cloneWith(path.join(sshd.dir, 'old-nix-config-deploy'), 'nix-config', path.join(sshd.dir, 'old-key'));
    expect(old.status).not.toBe(0);
    expect(cloneWith(ssh('nix-config-deploy'), 'nix-config', path.join(sshd.dir, 'new-key-2')).status).toBe(0);
  });

  it('a host key GitLab also enables on another repo: audit names it; revoke unlinks it everywhere and no key fetches', async () => {
    expect((await dk('audit')).code).toBe(0);
    const shared = gl.keysOf(projectOf('nix-config'))[0]!;
    // An admin enables it on the other project too (GitLab shares one key between projects).
    gl.enableElsewhere(shared.id, projectOf('nix-secrets'));
    expect(gl.keysOf(projectOf('nix-secrets')).map((k) => k.id)).toContain(shared.id);
    const a = await dk('audit', '--json');
    expect(a.code).toBe(1);
    const { findings } = JSON.parse(a.out) as AuditJson;
    expect(findings.map((f) => f.kind)).toEqual(['shared-key']);
    expect(findings[0]!.message).toMatch(/web-01's key for nix-config, also enabled on nix-secrets/);

    const r = await dk('revoke', HOST, '--yes');
    expect(r.code, r.err + r.out).toBe(0);
    for (const repo of REPOS) expect(gl.keysOf(projectOf(repo))).toEqual([]);
    expect(gl.keyExists(shared.id)).toBe(false);
    expect(grants.at(-1)).toEqual([]);
    for (const [key, repo] of [['nix-config', 'nix-config'], ['nix-config', 'nix-secrets'], ['nix-secrets', 'nix-secrets']] as const) {
      const dest = path.join(sshd.dir, `after-revoke-${key}-${repo}`);
      expect(cloneWith(ssh(`${key}-deploy`), repo, dest).status).not.toBe(0);
      expect(existsSync(dest)).toBe(false);
    }
  });
});
