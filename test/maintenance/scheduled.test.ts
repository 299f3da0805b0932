/**
 * scripts/maintenance/scheduled.sh, the job the NixOS maintenance module and
 * the GitHub Actions template run, run for real: dash, git with a bare
 * "origin", the built CLI against the GitHub API double with a GitHub App
 * whose key is handed over as $DEPLOY_KEYS_GITHUB_APP_KEY_FILE (as a systemd
 * credential or a CI secret would be), the operator's age identity for
 * rotation only.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startGithubApiDouble, type AppSpec, type GithubApiDouble } from '../doubles/github-api.js';
import { validateAll } from '../doubles/openapi.js';
import type { AuditJson, StatusJson } from '../helpers/cli-json.js';
import { gitTestEnv } from '../helpers/git-server.js';
import { haveTools } from '../helpers/tools.js';
import { Fleet } from '../lifecycle/world.js';

const REPO = path.resolve(import.meta.dirname, '../..');
const SCRIPT = path.join(REPO, 'scripts/maintenance/scheduled.sh');
const BIN = path.join(REPO, 'dist/scripts/cli/bin.js');
const DAY = 86_400_000;

describe.runIf(haveTools('dash', 'git', 'shellcheck'))('scheduled.sh', () => {
  let gh: GithubApiDouble;
  let app: AppSpec;
  let fleet: Fleet;
  let work: string;
  let origin: string;
  let appKey: string;
  let bin: string;

  /** git in the fleet checkout (or `cwd`), isolated from the machine's config. */
  const git = (args: string[], cwd = fleet.dir) => {
    const r = spawnSync('git', args, { cwd, env: gitTestEnv(), encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  /** What a scheduled job has: PATH with the CLI, the App key, and (rotation) the age identity. */
  const jobEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => {
    const { GIT_AUTHOR_NAME: _n, GIT_AUTHOR_EMAIL: _e, GIT_COMMITTER_NAME: _cn, GIT_COMMITTER_EMAIL: _ce, ...git } = gitTestEnv();
    return { ...git, PATH: `${bin}:${process.env.PATH ?? ''}`, HOME: work, NO_COLOR: '1', DEPLOY_KEYS_GITHUB_APP_KEY_FILE: appKey, ...extra };
  };
  // Asynchronous: the API double answers from this process.
  const run = async (args: string[], env: NodeJS.ProcessEnv, command = ['dash', SCRIPT, '--dir', fleet.dir]) => {
    const r = await execa(command[0]!, [...command.slice(1), ...args], { cwd: work, env, extendEnv: false, reject: false, input: '', stripFinalNewline: false });
    return { code: r.exitCode, out: r.stdout, err: r.stderr };
  };
  const cli = (args: string[], env: NodeJS.ProcessEnv) => run(['--config', fleet.configFile, ...args], env, ['deploy-keys']);
  const rotateEnv = () => jobEnv({ SOPS_AGE_KEY: fleet.identity });
  const stateOf = (host: string) => JSON.parse(readFileSync(path.join(fleet.dir, 'sops/deploy-keys-state', `${host}.json`), 'utf8')) as { repos: Record<string, { current: { createdAt: string; fingerprint: string }; previous?: unknown }> };

  beforeAll(async () => {
    gh = await startGithubApiDouble({ writesPerMinute: 0, writesPerHour: 0 });
    gh.addRepo('acme/nix-config');
    gh.addRepo('acme/dotfiles');
    app = gh.addApp({ slug: 'fleet-keys' });
    gh.addInstallation(app, 'acme');
    // deploy-keys.yaml names the operators' key file; the job gets its own.
    fleet = await Fleet.create(gh, { auth: `  auth:\n    type: app\n    app_id: ${app.id}\n    private_key_file: secrets/app.pem\n` });
    work = mkdtempSync(path.join(tmpdir(), 'dk-sched-'));
    appKey = path.join(work, 'credentials', 'github-app.pem');
    mkdirSync(path.dirname(appKey), { mode: 0o700 });
    writeFileSync(appKey, app.privateKeyPem, { mode: 0o600 });
    bin = path.join(work, 'bin');
    mkdirSync(bin);
    writeFileSync(path.join(bin, 'deploy-keys'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`);
    chmodSync(path.join(bin, 'deploy-keys'), 0o755);

    for (const host of ['web-01', 'db-01']) {
      const r = await fleet.cli(['vm-fresh', host, '--yes'], { DEPLOY_KEYS_GITHUB_APP_KEY_FILE: appKey });
      expect(r.code, r.stderr).toBe(0);
    }
    // The secrets repo as the job finds it: committed, pushed to its origin.
    origin = path.join(work, 'origin.git');
    git(['init', '--quiet', '--bare', '--initial-branch=main', origin], work);
    git(['init', '--quiet', '--initial-branch=main']);
    git(['add', '-A']);
    git(['commit', '--quiet', '-m', 'fleet']);
    git(['push', '--quiet', origin, 'main']);
    git(['remote', 'add', 'origin', origin]);
  }, 120_000);

  afterAll(async () => {
    expect(validateAll(gh.responses)).toEqual([]);
    await gh.close();
    fleet.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  test('is clean POSIX sh (shellcheck)', () => {
    const r = spawnSync('shellcheck', ['-s', 'sh', SCRIPT], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  test('audit and status need no age identity; the App key comes from $DEPLOY_KEYS_GITHUB_APP_KEY_FILE', async () => {
    const env = jobEnv();
    expect(env.SOPS_AGE_KEY).toBeUndefined();
    const audit = await run(['audit', '--json'], env);
    expect(audit.err).toBe('');
    expect(audit.code).toBe(0);
    expect((JSON.parse(audit.out) as AuditJson).findings).toEqual([]);
    const status = await cli(['status', '--json'], env);
    expect(status.code, status.err).toBe(0);
    expect((JSON.parse(status.out) as StatusJson).hosts.flatMap((h) => h.rows.map((r) => r.registration))).toEqual(['registered', 'registered', 'registered', 'registered']);
    // The NixOS module's audit: the textfile for node_exporter.
    const prom = path.join(work, 'deploy-keys.prom');
    const metrics = await run(['audit', '--format', 'prometheus', '--output', prom], env);
    expect(metrics.code, metrics.err).toBe(0);
    expect(metrics.out).toBe('audit: ok (2 hosts, 4 forge keys)\n');
    expect(parsePrometheusTextFormat(readFileSync(prom, 'utf8')).find((f) => f.name === 'deploy_keys_key_registration')?.metrics).toHaveLength(16);
    // Without the override, the configured (absent) file is what is read.
    const without = await cli(['audit'], { ...env, DEPLOY_KEYS_GITHUB_APP_KEY_FILE: '' });
    expect(without.code).toBe(1);
    expect(without.err).toContain(`forge.auth.private_key_file ${path.join(fleet.dir, 'secrets/app.pem')}: cannot open (ENOENT)`);
  });

  test('a relative $DEPLOY_KEYS_GITHUB_APP_KEY_FILE is refused in one line', async () => {
    const r = await run(['audit'], jobEnv({ DEPLOY_KEYS_GITHUB_APP_KEY_FILE: 'github-app.pem' }));
    expect(r.code).toBe(1);
    expect(r.err).toBe('deploy-keys: $DEPLOY_KEYS_GITHUB_APP_KEY_FILE "github-app.pem" is not an absolute file path (point it at the GitHub App\'s .pem file, or unset it to use forge.auth.private_key_file)\n');
  });

  test('rotate without the age identity fails loudly and commits nothing', async () => {
    const old = stateOf('web-01');
    for (const repo of Object.values(old.repos)) repo.current.createdAt = new Date(Date.now() - 100 * DAY).toISOString();
    writeFileSync(path.join(fleet.dir, 'sops/deploy-keys-state/web-01.json'), `${JSON.stringify(old, null, 2)}\n`);
    git(['commit', '--quiet', '-am', 'web-01: keys made 100 days ago']);
    git(['push', '--quiet', origin, 'main']);

    const head = git(['rev-parse', 'HEAD'], origin);
    const r = await run(['--remote', origin, 'rotate'], jobEnv());
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/web-01: .*(age identity|decrypt)/i);
    expect(git(['rev-parse', 'HEAD'], origin)).toBe(head);
    expect(git(['status', '--porcelain', '--untracked-files=no'])).toBe('');
  });

  test('rotate: keys past max_age_days are rotated, committed with the hosts in the subject, pushed', async () => {
    const before = fleet.forgeKeys('web-01').length;
    const untracked = path.join(fleet.dir, 'secrets/app.pem');
    mkdirSync(path.dirname(untracked), { recursive: true, mode: 0o700 });
    writeFileSync(untracked, app.privateKeyPem, { mode: 0o600 });

    const r = await run(['--remote', origin, 'rotate'], rotateEnv());
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('rotate web-01:');
    expect(r.out).toMatch(/deploy-keys-scheduled: pushed to .* main/);
    // Old keys stay until --finish (not used yet, grace period not over).
    expect(fleet.forgeKeys('web-01')).toHaveLength(before * 2);
    expect(fleet.forgeKeys('db-01')).toHaveLength(2);

    const message = git(['log', '-1', '--format=%an <%ae>%n%B'], origin);
    const [author, subject, blank, ...body] = message.split('\n');
    expect(author).toBe('deploy-keys <deploy-keys@localhost>');
    expect(subject).toBe('deploy-keys: scheduled rotation (web-01)');
    expect(blank).toBe('');
    expect(body.join('\n')).toMatch(/^rotate web-01:\n {2}done: write .*sops\/web-01\.yaml: generate web-01-nix-config-deploy/);
    // Hosts with nothing to do stay out of the message.
    expect(body.join('\n')).not.toMatch(/db-01|not rotated|new key not used yet/);
    // Only what git tracked: the App key beside the config stays out.
    const files = git(['show', '--name-only', '--format=', 'HEAD'], origin).split('\n').sort();
    expect(files).toEqual(['activation/web-01.sh', 'sops/deploy-keys-state/web-01.json', 'sops/deploy-keys.log.jsonl', 'sops/web-01.yaml']);
    expect(git(['ls-tree', '-r', '--name-only', 'HEAD'], origin)).not.toContain('app.pem');
    expect(git(['rev-parse', 'HEAD'])).toBe(git(['rev-parse', 'HEAD'], origin));
  });

  test('a second run right away changes nothing', async () => {
    const head = git(['rev-parse', 'HEAD'], origin);
    const r = await run(['--remote', origin, 'rotate'], rotateEnv());
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('deploy-keys-scheduled: nothing changed');
    expect(git(['rev-parse', 'HEAD'], origin)).toBe(head);
  });

  test('--finish runs once the new keys were used; a push that lost a race is replayed on the new head', async () => {
    // The host picked up its new keys: GitHub reports their last use.
    for (const full of ['acme/nix-config', 'acme/dotfiles']) {
      gh.touch(full, Math.max(...gh.keys(full).filter((k) => k.title.startsWith('web-01-')).map((k) => k.id)));
    }
    // A colleague pushes to the secrets repo while the job runs.
    const other = path.join(work, 'colleague');
    git(['clone', '--quiet', origin, other], work);
    writeFileSync(path.join(other, 'README'), 'fleet\n');
    git(['add', 'README'], other);
    git(['commit', '--quiet', '-m', 'readme'], other);
    writeFileSync(
      path.join(bin, 'deploy-keys'),
      `#!/bin/sh\nif [ "$1 $2" = "rotate --finish" ]; then git -C ${JSON.stringify(other)} push --quiet origin main; fi\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`,
    );
    try {
      const r = await run(['--remote', origin, 'rotate'], rotateEnv());
      expect(r.code, r.err + r.out).toBe(0);
      expect(r.out).toContain('finish web-01:');
      expect(r.err).toContain('rejected');
    } finally {
      writeFileSync(path.join(bin, 'deploy-keys'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`);
    }
    expect(fleet.forgeKeys('web-01')).toHaveLength(2);
    expect(git(['log', '--format=%s', '-3'], origin).split('\n')).toEqual(['deploy-keys: scheduled rotation (web-01)', 'readme', 'deploy-keys: scheduled rotation (web-01)']);
    expect(Object.values(stateOf('web-01').repos).every((r) => r.previous === undefined)).toBe(true);
  });

  test('stopped by a signal half way: what was done is committed and pushed, the run fails', async () => {
    const old = stateOf('db-01');
    for (const repo of Object.values(old.repos)) repo.current.createdAt = new Date(Date.now() - 100 * DAY).toISOString();
    writeFileSync(path.join(fleet.dir, 'sops/deploy-keys-state/db-01.json'), `${JSON.stringify(old, null, 2)}\n`);
    git(['commit', '--quiet', '-am', 'db-01: keys made 100 days ago']);
    git(['push', '--quiet', origin, 'main']);
    // systemd stops the service (or CI times out) right after the rotation, before --finish and the commit.
    writeFileSync(
      path.join(bin, 'deploy-keys'),
      `#!/bin/sh\n${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"; rc=$?\nif [ "$1 $2" = "rotate --all" ]; then kill -TERM $PPID; fi\nexit $rc\n`,
    );
    try {
      const r = await run(['--remote', origin, 'rotate'], rotateEnv());
      expect(r.code, JSON.stringify(r)).toBe(1);
      expect(r.err, JSON.stringify(r)).toContain('deploy-keys-scheduled: stopped by a signal; committing what the finished steps wrote');
      expect(r.out).not.toContain('finish');
    } finally {
      writeFileSync(path.join(bin, 'deploy-keys'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`);
    }
    expect(git(['log', '-1', '--format=%s'], origin)).toBe('deploy-keys: scheduled rotation, interrupted');
    expect(git(['show', '--name-only', '--format=', 'HEAD'], origin).split('\n')).toContain('sops/db-01.yaml');
    expect(git(['status', '--porcelain', '--untracked-files=no'])).toBe('');
    expect(fleet.forgeKeys('db-01')).toHaveLength(4);
  });

  test('a checkout with uncommitted changes or unpushed commits is refused', async () => {
    const config = readFileSync(fleet.configFile, 'utf8');
    writeFileSync(fleet.configFile, `${config}# edited\n`);
    let r = await run(['--remote', origin, 'audit'], jobEnv());
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^deploy-keys-scheduled: .* has uncommitted changes to tracked files \( M deploy-keys\.yaml\); commit or discard them first \(a run killed with SIGKILL/);
    git(['commit', '--quiet', '-am', 'local only']);
    git(['pull', '--quiet', '--ff-only', 'origin', 'main'], path.join(work, 'colleague'));
    writeFileSync(path.join(work, 'colleague', 'README'), 'fleet, again\n');
    git(['commit', '--quiet', '-am', 'readme again'], path.join(work, 'colleague'));
    git(['push', '--quiet', 'origin', 'main'], path.join(work, 'colleague'));
    r = await run(['--remote', origin, 'rotate'], rotateEnv());
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/has commits that .* does not have \(an earlier push failed\?\): merge and push them by hand\n$/);
  });

  test('usage errors exit 2', async () => {
    expect(await run(['rotate', 'web-01'], jobEnv())).toMatchObject({ code: 2, err: expect.stringMatching(/rotate takes no further arguments/) as unknown });
    expect(await run(['--bogus', 'audit'], jobEnv())).toMatchObject({ code: 2 });
    expect(await run([], jobEnv())).toMatchObject({ code: 2, err: expect.stringMatching(/missing rotate or audit/) as unknown });
  });
});
