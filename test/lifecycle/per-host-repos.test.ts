/**
 * Least privilege per host (repos.<name>.hosts / except, host_groups) through
 * the CLI, against each forge double: GitHub with a token, GitHub with App
 * auth, GitLab. A host gets only its repos (keys, activation script,
 * description for the NixOS module); a host the config takes a repo from
 * loses that key on the next vm-fresh or rotate (planned, confirmed, forge
 * first); status and audit name such keys.
 */
import { promises as fs, rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startGithubApiDouble, type GithubApiDouble } from '../doubles/github-api.js';
import { validateAll } from '../doubles/openapi.js';
import { startGitlabApiDouble, type GitlabApiDouble } from '../doubles/gitlab-api.js';
import { validateGitlabResponses } from '../doubles/gitlab-schema.js';
import type { AuditJson, HostResultJson, StatusJson } from '../helpers/cli-json.js';
import { runCli, type CliResult } from '../helpers/run-cli.js';
import { fleetDir } from './world.js';

/** What the scenario needs from a forge double: the keys of a repo (`acme/<name>`) and a clean shutdown. */
interface ForgeUnderTest {
  keys(repo: string): { id: string; key: string; title: string }[];
  close(): Promise<void>;
}

interface World {
  dir: string;
  forge: ForgeUnderTest;
  cli(...args: string[]): Promise<CliResult>;
  setHosts(repo: string, lines: string): Promise<void>;
}

const REPOS = { 'nix-config': 'acme/nix-config', dotfiles: 'acme/dotfiles' };
/** dotfiles: web hosts only. */
const DOTFILES_HOSTS = '    hosts: [group:web]\n';
const GROUPS = 'host_groups:\n  web: [web-*]\n';

const worlds: World[] = [];
afterEach(async () => {
  for (const w of worlds.splice(0)) {
    await w.forge.close();
    rmSync(w.dir, { recursive: true, force: true });
  }
});

async function world(forgeYaml: string, gitHost: string, env: NodeJS.ProcessEnv, forge: ForgeUnderTest): Promise<World> {
  const f = await fleetDir(GROUPS + forgeYaml, gitHost, { repos: REPOS, repoLines: { dotfiles: DOTFILES_HOSTS } });
  const configFile = path.join(f.dir, 'deploy-keys.yaml');
  const w: World = {
    dir: f.dir,
    forge,
    cli: (...args) => runCli(['--config', configFile, ...args], { ...f.env, ...env }, f.dir),
    async setHosts(repo, lines) {
      const text = await fs.readFile(configFile, 'utf8');
      const entry = new RegExp(`(\\n  ${repo}:\\n    url: [^\\n]+\\n)(?: {4}(?:hosts|except): [^\\n]*\\n)*`);
      expect(text).toMatch(entry);
      await fs.writeFile(configFile, text.replace(entry, (_m, head: string) => head + lines));
    },
  };
  worlds.push(w);
  return w;
}

async function githubToken(): Promise<World> {
  const gh = await startGithubApiDouble({ writesPerMinute: 0, writesPerHour: 0 });
  for (const full of Object.values(REPOS)) gh.addRepo(full);
  const forge = `forge:\n  type: github\n  api_url: ${gh.url}\n  token_env: GH_TOKEN\n  writes_per_minute: 0\n  writes_per_hour: 0\n`;
  return world(forge, 'github.com', { GH_TOKEN: gh.token }, githubView(gh));
}

async function githubApp(): Promise<World> {
  const gh = await startGithubApiDouble({ writesPerMinute: 0, writesPerHour: 0 });
  for (const full of Object.values(REPOS)) gh.addRepo(full);
  const app = gh.addApp({ slug: 'fleet-keys' });
  gh.addInstallation(app, 'acme');
  const forge = `forge:\n  type: github\n  api_url: ${gh.url}\n  auth:\n    type: app\n    app_id: ${app.id}\n    private_key_file: secrets/app.pem\n  writes_per_minute: 0\n  writes_per_hour: 0\n`;
  const w = await world(forge, 'github.com', {}, githubView(gh));
  await fs.mkdir(path.join(w.dir, 'secrets'), { mode: 0o700 });
  await fs.writeFile(path.join(w.dir, 'secrets', 'app.pem'), app.privateKeyPem, { mode: 0o600 });
  return w;
}

function githubView(gh: GithubApiDouble): ForgeUnderTest {
  return {
    keys: (repo) => gh.keys(repo).map((k) => ({ id: String(k.id), key: k.key, title: k.title })),
    async close() {
      expect(validateAll(gh.responses)).toEqual([]);
      await gh.close();
    },
  };
}

async function gitlab(): Promise<World> {
  const gl: GitlabApiDouble = await startGitlabApiDouble();
  for (const full of Object.values(REPOS)) gl.addProject(full);
  const forge = `forge:\n  type: gitlab\n  api_url: ${gl.url}\n  token_env: GITLAB_TOKEN\n`;
  return world(forge, 'gitlab.com', { GITLAB_TOKEN: gl.token }, {
    keys: (repo) => gl.keysOf(repo).map((k) => ({ id: String(k.id), key: k.key, title: k.title })),
    async close() {
      expect(validateGitlabResponses(gl.responses)).toEqual([]);
      await gl.close();
    },
  });
}

const titles = (w: World, repo: string) => w.forge.keys(REPOS[repo as keyof typeof REPOS]).map((k) => k.title).sort();

describe.each([
  ['GitHub (token)', githubToken],
  ['GitHub (App)', githubApp],
  ['GitLab', gitlab],
])('per-host repos against %s', (_name, make) => {
  it('each host gets only its repos: keys, activation script, NixOS description', async () => {
    const w = await make();
    for (const h of ['web-01', 'db-01']) {
      const r = await w.cli('vm-fresh', h, '--yes');
      expect(r.code, r.stderr).toBe(0);
    }
    expect(titles(w, 'nix-config')).toEqual(['db-01-nix-config-deploy', 'web-01-nix-config-deploy']);
    expect(titles(w, 'dotfiles')).toEqual(['web-01-dotfiles-deploy']);
    expect(await fs.readFile(path.join(w.dir, 'activation', 'db-01.sh'), 'utf8')).not.toMatch(/dotfiles/);
    expect(await fs.readFile(path.join(w.dir, 'activation', 'web-01.sh'), 'utf8')).toMatch(/dotfiles/);
    const desc = JSON.parse((await w.cli('activation', 'db-01', '--json')).stdout) as { repos: { name: string }[] };
    expect(desc.repos.map((r) => r.name)).toEqual(['nix-config']);
    const notMine = await w.cli('activation', 'db-01', '--repo', 'dotfiles');
    expect(notMine.code).toBe(1);
    expect(notMine.stderr).toMatch(/repo dotfiles is not for host db-01: .*deploy-keys\.yaml:\d+ does not select it/);
    await w.setHosts('nix-config', '    hosts: [group:web, db-*]\n');
    const stranger = await w.cli('vm-fresh', 'mail-01', '--yes');
    expect(stranger.code).toBe(1);
    expect(stranger.stderr).toMatch(/host mail-01 gets no repo/);
    await expect(fs.access(path.join(w.dir, 'sops', 'mail-01.yaml'))).rejects.toThrow();
    expect((await w.cli('audit')).code).toBe(0);
  });

  it('a repo taken from a host: status and audit name it, vm-fresh removes it (dry run, confirmation, forge first)', async () => {
    const w = await make();
    expect((await w.cli('vm-fresh', 'web-01', '--yes')).code).toBe(0);
    expect((await w.cli('vm-fresh', 'web-02', '--yes')).code).toBe(0);
    await w.setHosts('dotfiles', '    hosts: [web-02]\n');

    const st = JSON.parse((await w.cli('status', '--json')).stdout) as StatusJson;
    const rows = st.hosts.find((h) => h.host === 'web-01')!.rows;
    expect(rows.map((r) => [r.repo, r.assigned])).toEqual([['nix-config', true], ['dotfiles', false]]);
    expect((await w.cli('status')).stdout).toMatch(/web-01: dotfiles is no longer the host's .*"deploy-keys vm-fresh web-01" removes its key/);
    const audit = await w.cli('audit', '--json');
    expect(audit.code).toBe(1);
    const findings = (JSON.parse(audit.stdout) as AuditJson).findings;
    expect(findings.map((f) => [f.kind, f.host, f.repo])).toEqual([['unassigned-key', 'web-01', 'dotfiles']]);

    const dry = await w.cli('vm-fresh', 'web-01', '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/delete deploy key \S+ "web-01-dotfiles-deploy" \(SHA256:\S+\) from dotfiles: web-01 no longer gets dotfiles/);
    expect(dry.stdout).toMatch(/write \S+web-01\.yaml: delete deploy-keys\.dotfiles/);
    expect(dry.stdout.indexOf('delete deploy key')).toBeLessThan(dry.stdout.indexOf('delete deploy-keys.dotfiles'));
    expect(titles(w, 'dotfiles')).toEqual(['web-01-dotfiles-deploy', 'web-02-dotfiles-deploy']);

    const unconfirmed = await w.cli('vm-fresh', 'web-01');
    expect(unconfirmed.code).toBe(1);
    expect(unconfirmed.stderr).toMatch(/vm-fresh web-01: would delete deploy key .* stdin is not a terminal \(pass --yes/);
    expect(titles(w, 'dotfiles')).toEqual(['web-01-dotfiles-deploy', 'web-02-dotfiles-deploy']);

    const done = await w.cli('vm-fresh', 'web-01', '--yes', '--json');
    expect(done.code, done.stderr).toBe(0);
    const j = JSON.parse(done.stdout) as HostResultJson;
    expect(j.plan.steps.map((s) => s.op)).toEqual(['forge-remove', 'write-host-file', 'write-activation']);
    expect(j.keys.map((k) => k.repo)).toEqual(['nix-config']);
    expect(titles(w, 'dotfiles')).toEqual(['web-02-dotfiles-deploy']);
    expect(await fs.readFile(path.join(w.dir, 'activation', 'web-01.sh'), 'utf8')).not.toMatch(/dotfiles/);
    const a2 = await w.cli('audit');
    expect(a2.code, a2.stdout).toBe(0);
    const again = JSON.parse((await w.cli('vm-fresh', 'web-01', '--yes', '--json')).stdout) as HostResultJson;
    expect(again.plan.steps).toEqual([]);
  });

  it('rotate removes a taken repo too, even when no key is due', async () => {
    const w = await make();
    expect((await w.cli('vm-fresh', 'web-01', '--yes')).code).toBe(0);
    await w.setHosts('dotfiles', '    except: [web-01]\n');
    const r = await w.cli('rotate', 'web-01', '--yes', '--json');
    expect(r.code, r.stderr).toBe(0);
    const res = (JSON.parse(r.stdout) as { results: HostResultJson[] }).results[0]!;
    expect(res.plan.steps.map((s) => s.op)).toEqual(['forge-remove', 'write-host-file', 'write-activation']);
    expect(res.plan.notes.join('\n')).toMatch(/nix-config: key is 0 days old/);
    expect(titles(w, 'dotfiles')).toEqual([]);
    expect(titles(w, 'nix-config')).toEqual(['web-01-nix-config-deploy']);
    expect((await w.cli('audit')).code).toBe(0);
  });
});
