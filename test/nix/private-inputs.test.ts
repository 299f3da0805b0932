/**
 * Private flake inputs through the deploy keys, with the real `nix`.
 *
 * A host (test/helpers/isolated-host.ts: private mount and network namespace,
 * its own /root, /home and an overlay /etc) reaches the test sshd as
 * forge.test:22. The sshd plays GitHub: each key's forced command serves only
 * the repos that key may read ("Repository not found" otherwise), so a key
 * that authenticates but belongs to another repo fails like it does there.
 *
 * Root has a personal key that authenticates but may read only acme/root-own.
 * nix-config is a flake whose input nix-secrets is `git+ssh://` on the same
 * forge. The test fetches, as root, with HOME=/root, HOME of another user
 * and HOME unset:
 *   nix flake metadata git+ssh://git@forge.test/acme/nix-config
 *   nix eval git+ssh://git@forge.test/acme/nix-config#token     (reads nix-secrets, a flake input)
 *   builtins.fetchGit { url = "git@forge.test:acme/nix-secrets.git"; }
 * first without any configuration (fails), then with the deploy keys but
 * without git's ssh command (fails: git cannot know which key), with only the
 * old insteadOf rules (works for HOME=/root only), then after the activation
 * script as `deploy-keys activate`/`bootstrap` run it (works everywhere), and
 * with /etc/gitconfig the way the NixOS module writes it. Root's and another
 * user's own ssh use of the forge keeps working.
 *
 * Nix 2.8 (Debian's nix-bin) fetches `master` when a git URL names no ref
 * (newer Nix reads the remote HEAD), so the repos' branch is master here.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { encodeKeyStream, gitSshCommand, renderActivationScript } from '../../scripts/lib/activation/index.js';
import { config, makeKey, tempDir, type KeyPair } from '../activation/fixtures.js';
import { gitTestEnv } from '../helpers/git-server.js';
import { isolationProblem, startIsolatedHost, type IsolatedHost, type RunResult } from '../helpers/isolated-host.js';
import { haveSshd, startSshd, type SshdFixture } from '../helpers/sshd.js';
import { haveTools } from '../helpers/tools.js';

const FORGE = 'forge.test';
const ALICE_UID = 4242;
const CI = process.env.CI === 'true' || process.env.CI === '1';

function canRun(): { ok: boolean; reason: string } {
  if (!haveSshd() || !haveTools('nix', 'unshare', 'nsenter', 'setsid', 'setpriv', 'ip', 'mount')) return { ok: false, reason: 'tools missing' };
  const problem = isolationProblem();
  if (problem && CI) throw new Error(`CI must run the private-inputs test: ${problem}`);
  return problem ? { ok: false, reason: problem } : { ok: true, reason: '' };
}
const can = canRun();

describe.runIf(can.ok)(`private flake inputs through the deploy keys, real nix${can.ok ? '' : ` (skipped: ${can.reason})`}`, () => {
  const t = tempDir('dk-privin-');
  const sb = path.join(t.dir, 'host');
  const store = path.join(t.dir, 'nix-store-root');
  let sshd: SshdFixture;
  let host: IsolatedHost;
  let deploy: Record<'nix-config' | 'nix-secrets', KeyPair>;
  let token = 0;
  /** What afterAll undoes, in reverse: only what beforeAll got to start. */
  const cleanups: (() => Promise<void>)[] = [];

  /** A GitHub-like gate: serve the listed repos (owner/repo -> bare repo), refuse any other. */
  const gate = path.join(t.dir, 'gate.sh');
  const authorize = (key: KeyPair, repos: string[]) => {
    const args = repos.map((r) => `${r} ${sshd.repoPath(r)}`).join(' ');
    appendFileSync(sshd.authorizedKeys, `restrict,command="sh ${gate} ${args}" ${key.publicLine}\n`);
  };

  const git = (args: string[], cwd?: string) =>
    execFileSync('git', args, { cwd, env: gitTestEnv({ GIT_CONFIG_GLOBAL: path.join(t.dir, 'safe.gitconfig') }), encoding: 'utf8' });
  /** Commits FILE=CONTENT to owner/repo's master and gives the repo back to the git account. */
  const commit = (repo: string, file: string, content: string) => {
    const work = path.join(t.dir, 'work', repo);
    git(['-C', work, 'pull', '-q', 'origin', 'master']);
    writeFileSync(path.join(work, file), content);
    git(['-C', work, 'add', file]);
    git(['-C', work, 'commit', '-q', '-m', `${file}: ${content.trim()}`]);
    git(['-C', work, 'push', '-q', 'origin', 'master']);
    execFileSync('chown', ['-R', `${sshd.uid}:${sshd.gid}`, sshd.repoPath(repo)]);
    return git(['-C', work, 'rev-parse', 'HEAD']).trim();
  };

  const ENVS: Record<string, string[]> = {
    'HOME=/root': ['HOME=/root'],
    "HOME of another user (sudo's default)": ['HOME=/home/alice'],
    'HOME unset (systemd, nix-daemon clients)': [],
  };
  const nix = (env: string[], ...args: string[]): Promise<RunResult> =>
    host.run([
      'env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', ...env,
      'nix', '--extra-experimental-features', 'nix-command flakes', '--store', store,
      '--option', 'build-users-group', '', '--option', 'substituters', '', '--refresh', ...args,
    ]);
  /** Each fetch starts from an empty fetcher cache: Nix must reach the forge, and a stale copy cannot mask a failure. */
  const dropCaches = () => {
    for (const d of ['root/.cache', 'home/alice/.cache']) rmSync(path.join(sb, d), { recursive: true, force: true });
  };

  const flakeUrl = `git+ssh://git@${FORGE}/acme/nix-config`;
  const fetchGitExpr = `builtins.readFile "\${builtins.fetchGit { url = "git@${FORGE}:acme/nix-secrets.git"; }}/token"`;
  /** The three fetches, each against a token pushed just before. */
  const fetchAll = async (env: string[]) => {
    const want = `token-${++token}\n`;
    const rev = commit('acme/nix-secrets', 'token', want);
    dropCaches();
    const metadata = await nix(env, 'flake', 'metadata', '--json', '--no-write-lock-file', flakeUrl);
    const lockedRev = metadata.exitCode === 0 ? (JSON.parse(metadata.stdout) as { locks: { nodes: Record<string, { locked?: { rev?: string } }> } }).locks.nodes['nix-secrets']?.locked?.rev : undefined;
    dropCaches();
    const input = await nix(env, 'eval', '--raw', '--no-write-lock-file', `${flakeUrl}#token`);
    dropCaches();
    const fetchGit = await nix(env, 'eval', '--impure', '--raw', '--expr', fetchGitExpr);
    return { want, rev, metadata, lockedRev, input, fetchGit };
  };
  type Fetched = Awaited<ReturnType<typeof fetchAll>>;
  const expectFetched = (f: Fetched, where: string) => {
    expect(f.metadata.exitCode, `${where}: nix flake metadata\n${f.metadata.stderr}`).toBe(0);
    expect(f.lockedRev, `${where}: nix-secrets locked by nix flake metadata`).toBe(f.rev);
    expect(f.input.exitCode, `${where}: flake input\n${f.input.stderr}`).toBe(0);
    expect(f.input.stdout, where).toBe(f.want);
    expect(f.fetchGit.exitCode, `${where}: fetchGit\n${f.fetchGit.stderr}`).toBe(0);
    expect(f.fetchGit.stdout, where).toBe(f.want);
  };
  const expectRefused = (f: Fetched, where: string) => {
    for (const [what, r] of [['metadata', f.metadata], ['flake input', f.input], ['fetchGit', f.fetchGit]] as const) {
      expect(r.exitCode, `${where}: ${what} must fail\n${r.stdout}`).not.toBe(0);
      expect(r.stdout, `${where}: ${what}`).not.toContain('token-');
    }
  };

  const activate = (...args: string[]) => {
    const keys = new Map(Object.entries(deploy).map(([r, k]) => [r, k.privatePem]));
    const script = renderActivationScript(
      config(
        `forge:\n  type: manual\nknown_hosts:\n  - "${FORGE} ${sshd.hostPublicKey}"\nrepos:\n` +
          `  nix-config:\n    url: git@${FORGE}:acme/nix-config.git\n  nix-secrets:\n    url: git@${FORGE}:acme/nix-secrets.git\n`,
      ),
      'web-01',
      { publicKeys: Object.fromEntries(Object.entries(deploy).map(([r, k]) => [r, k.publicLine])) },
    );
    // As `deploy-keys activate --root /` and `bootstrap` run it: keys on stdin, on the host itself.
    return host.run(['env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'sh', '-c', script, 'deploy-keys-activation', '--keys-stdin', '--no-clone', ...args], {
      input: encodeKeyStream(keys),
    });
  };

  beforeAll(async () => {
    sshd = await startSshd();
    cleanups.push(() => sshd.stop());
    writeFileSync(
      gate,
      [
        '# gate OWNER/REPO BARE-REPO...: serve those repos in every spelling GitHub accepts; refuse the rest like GitHub.',
        'while [ $# -ge 2 ]; do',
        '  case $SSH_ORIGINAL_COMMAND in',
        `    "git-upload-pack '/$1'" | "git-upload-pack '$1'" | "git-upload-pack '/$1.git'" | "git-upload-pack '$1.git'") exec git-upload-pack "$2" ;;`,
        '  esac',
        '  shift 2',
        'done',
        'echo "ERROR: Repository not found." >&2',
        'exit 1',
        '',
      ].join('\n'),
      { mode: 0o644 },
    );
    chmodSync(t.dir, 0o711); // the git account reads the gate
    writeFileSync(path.join(t.dir, 'safe.gitconfig'), '[safe]\n\tdirectory = *\n');
    for (const repo of ['acme/nix-config', 'acme/nix-secrets', 'acme/nix-config-extra', 'acme/root-own', 'acme/alice-own']) {
      await sshd.addRepo(repo, false);
      const work = path.join(t.dir, 'work', repo);
      mkdirSync(work, { recursive: true });
      git(['init', '-q', '-b', 'master', work]);
      git(['-C', work, 'remote', 'add', 'origin', sshd.repoPath(repo)]);
      writeFileSync(path.join(work, 'README.md'), `# ${repo}\n`);
      if (repo === 'acme/nix-config') {
        writeFileSync(
          path.join(work, 'flake.nix'),
          `{\n  inputs.nix-secrets = { url = "git+ssh://git@${FORGE}/acme/nix-secrets"; flake = false; };\n` +
            '  outputs = { self, nix-secrets }: { token = builtins.readFile "${nix-secrets}/token"; };\n}\n',
        );
      }
      if (repo === 'acme/nix-secrets') writeFileSync(path.join(work, 'token'), 'token-0\n');
      git(['-C', work, 'add', '-A']);
      git(['-C', work, 'commit', '-q', '-m', 'init']);
      git(['-C', work, 'push', '-q', 'origin', 'master']);
      git(['--git-dir', sshd.repoPath(repo), 'symbolic-ref', 'HEAD', 'refs/heads/master']);
      execFileSync('chown', ['-R', `${sshd.uid}:${sshd.gid}`, sshd.repoPath(repo)]);
    }

    // The host's deploy keys (what vm-fresh registers), root's and alice's own keys.
    deploy = { 'nix-config': makeKey('web-01-nix-config-deploy'), 'nix-secrets': makeKey('web-01-nix-secrets-deploy') };
    authorize(deploy['nix-config'], ['acme/nix-config']);
    authorize(deploy['nix-secrets'], ['acme/nix-secrets']);
    const rootKey = makeKey('root@web-01');
    authorize(rootKey, ['acme/root-own', 'acme/nix-config-extra']);
    const aliceKey = makeKey('alice@laptop');
    authorize(aliceKey, ['acme/alice-own', 'acme/nix-config']);

    // Modes as on a host: /root 0700, /home 0755.
    for (const d of ['root', 'home']) mkdirSync(path.join(sb, d), { recursive: true });
    chmodSync(path.join(sb, 'root'), 0o700);
    mkdirSync(path.join(sb, 'root/.ssh'), { mode: 0o700 });
    writeFileSync(path.join(sb, 'root/.ssh/id_ed25519'), rootKey.privatePem, { mode: 0o600 });
    const alice = path.join(sb, 'home/alice');
    mkdirSync(alice);
    mkdirSync(path.join(alice, '.ssh'), { mode: 0o700 });
    writeFileSync(path.join(alice, '.ssh/id_ed25519'), aliceKey.privatePem, { mode: 0o600 });
    // Her own git settings; no core.sshCommand (hers would win over the system file).
    writeFileSync(path.join(alice, '.gitconfig'), '[user]\n\tname = Alice\n[init]\n\tdefaultBranch = main\n');
    for (const p of [alice, path.join(alice, '.ssh'), path.join(alice, '.ssh/id_ed25519'), path.join(alice, '.gitconfig')]) chownSync(p, ALICE_UID, ALICE_UID);

    host = await startIsolatedHost({
      sandbox: sb,
      forwardTo: sshd.port,
      setup: [
        `echo "127.0.0.1 ${FORGE}" >>/etc/hosts`,
        `echo "alice:x:${ALICE_UID}:${ALICE_UID}::/home/alice:/bin/sh" >>/etc/passwd`,
        `echo "alice:x:${ALICE_UID}:" >>/etc/group`,
        // The forge's key, pinned system-wide (the NixOS module's programs.ssh.knownHosts does this).
        'mkdir -p /etc/ssh',
        `echo "${FORGE} ${sshd.hostPublicKey}" >/etc/ssh/ssh_known_hosts`,
        // A fresh host: no system git config of this machine's.
        'rm -f /etc/gitconfig',
        '',
      ].join('\n'),
    });
    cleanups.push(() => host.stop());
  }, 120_000);

  afterAll(async () => {
    for (const undo of cleanups.reverse()) await undo();
    t.cleanup();
  });

  test('without configuration the fetches fail: root\'s own key authenticates, then the forge refuses the repo', async () => {
    const f = await fetchAll(['HOME=/root']);
    expectRefused(f, 'no configuration');
    expect(f.fetchGit.stderr).toContain('Repository not found');
  }, 180_000);

  test('deploy keys and aliases alone are not enough: git cannot tell which key a repo needs', async () => {
    const r = await activate('--no-git-ssh');
    expect(r.exitCode, r.stderr).toBe(0);
    expectRefused(await fetchAll(['HOME=/root']), 'keys without git ssh');
  }, 180_000);

  test("insteadOf rules in root's ~/.gitconfig (the old way) serve HOME=/root only", async () => {
    const r = await activate('--no-git-ssh', '--insteadof');
    expect(r.exitCode, r.stderr).toBe(0);
    expectFetched(await fetchAll(['HOME=/root']), 'insteadOf, HOME=/root');
    expectRefused(await fetchAll([]), 'insteadOf, HOME unset');
    // And the rules match by prefix: root's own acme/nix-config-extra is sent to nix-config's key.
    const extra = await host.run(['env', '-i', 'PATH=/usr/bin:/bin', 'HOME=/root', 'git', 'ls-remote', `ssh://git@${FORGE}/acme/nix-config-extra`]);
    expect(extra.exitCode).not.toBe(0);
    expect(extra.stderr).toContain('Repository not found');
    expect((await activate('--no-git-ssh', '--no-insteadof')).exitCode).toBe(0);
  }, 300_000);

  test.each(Object.entries(ENVS))('after activation, root fetches through the deploy keys with %s', async (name, env) => {
    const r = await activate();
    expect(r.exitCode, r.stderr).toBe(0);
    expectFetched(await fetchAll(env), name);
  }, 180_000);

  test('the activation wrote /etc/gitconfig and ~/.ssh as documented', async () => {
    const etc = await host.run(['cat', '/etc/gitconfig']);
    expect(etc.stdout).toBe(`[core]\n\tsshCommand = "f=/root/.ssh/deploy-keys-git-ssh; [ -x \\"$f\\" ] || f=ssh; exec \\"$f\\""\n`);
    expect(readFileSync(path.join(sb, 'root/.ssh/config'), 'utf8')).toContain(`Host ${FORGE}-nix-secrets\n  HostName ${FORGE}\n`);
    expect(readFileSync(path.join(sb, 'root/.ssh/.deploy-keys-managed'), 'utf8')).toContain('git-ssh config /etc/gitconfig\n');
  });

  test('the forge saw each deploy key authenticate', async () => {
    const log = await sshd.log();
    for (const key of Object.values(deploy)) {
      const fp = execFileSync('ssh-keygen', ['-lf', '-'], { input: key.publicLine, encoding: 'utf8' }).split(' ')[1]!;
      expect(log).toMatch(new RegExp(`Accepted publickey for git from 127\\.0\\.0\\.1 port \\d+ ssh2: ED25519 ${fp.replace(/[+/]/g, '\\$&')}`));
    }
  });

  test("root's and alice's own ssh use of the forge is unchanged", async () => {
    const lsRemote = (who: string[], env: string[], url: string) =>
      host.run([...who, 'env', '-i', 'PATH=/usr/bin:/bin', ...env, 'git', 'ls-remote', url]);
    const asAlice = ['setpriv', `--reuid=${ALICE_UID}`, `--regid=${ALICE_UID}`, '--clear-groups'];
    // Root: repos that are not managed, including one whose name extends a managed one, go through plain ssh and root's key.
    for (const url of [`git@${FORGE}:acme/root-own.git`, `ssh://git@${FORGE}/acme/nix-config-extra`]) {
      const r = await lsRemote([], ['HOME=/root'], url);
      expect(r.exitCode, `${url}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/\trefs\/heads\/master\n/);
    }
    // Alice, with her own key: her repo and a managed repo she may read herself.
    for (const url of [`git@${FORGE}:acme/alice-own.git`, `git@${FORGE}:acme/nix-config.git`]) {
      const r = await lsRemote(asAlice, ['HOME=/home/alice'], url);
      expect(r.exitCode, `alice ${url}\n${r.stderr}`).toBe(0);
    }
    // She cannot use root's deploy keys: nix-secrets is not hers.
    const denied = await lsRemote(asAlice, ['HOME=/home/alice'], `git@${FORGE}:acme/nix-secrets.git`);
    expect(denied.exitCode).not.toBe(0);
    expect(denied.stderr).toContain('Repository not found');
  }, 120_000);

  test('with /etc/gitconfig managed by NixOS (a read-only symlink holding the value), the activation accepts it and fetches work', async () => {
    const managed = path.join(sb, 'etc-static-gitconfig');
    // What programs.git.config = { core.sshCommand = …; } renders (test/nix/module.test.ts checks the real rendering).
    writeFileSync(managed, `[core]\n\tsshCommand = "${gitSshCommand('/root').replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"\n`, { mode: 0o444 });
    const link = await host.run(['ln', '-sfn', managed, '/etc/gitconfig']);
    expect(link.exitCode, link.stderr).toBe(0);
    const r = await activate();
    expect(r.exitCode, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toBe('deploy-keys: no changes\n');
    expectFetched(await fetchAll([]), 'NixOS layout, HOME unset');
  }, 180_000);
});
