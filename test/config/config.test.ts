import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../scripts/lib/config/load.js';
import { parseRepoUrl } from '../../scripts/lib/config/repo-url.js';
import { ConfigError } from '../../scripts/lib/errors.js';

const FILE = '/srv/fleet/deploy-keys.yaml';
const BASE = `secrets_dir: sops
forge:
  type: github
  token_env: GITHUB_TOKEN
known_hosts: []
repos:
  nix-config:
    url: git@github.com:acme/nix-config.git
    clone_to: /root/nix-config
  nix-secrets:
    url: git@github.com:acme/nix-secrets.git
    clone_to: /root/nix-secrets
rotation:
  max_age_days: 90
`;

function failure(text: string): ConfigError {
  try {
    parseConfig(text, FILE);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('parses the documented example', () => {
    const c = parseConfig(BASE, FILE);
    expect(c.secretsDir).toBe('/srv/fleet/sops');
    expect(c.forge).toEqual({ type: 'github', apiUrl: 'https://api.github.com', auth: { type: 'token', tokenEnv: 'GITHUB_TOKEN' }, writesPerMinute: 80, writesPerHour: 500 });
    expect(c.repos.map((r) => [r.name, r.url.owner, r.url.repo, r.url.host, r.url.port, r.cloneTo])).toEqual([
      ['nix-config', 'acme', 'nix-config', 'github.com', 22, '/root/nix-config'],
      ['nix-secrets', 'acme', 'nix-secrets', 'github.com', 22, '/root/nix-secrets'],
    ]);
    expect(c.rotation).toEqual({ maxAgeDays: 90, graceDays: 7 });
    expect(c.audit).toEqual({ unusedDays: 30 });
  });

  it('names file, line and key for an unknown key', () => {
    const e = failure(BASE.replace('rotation:', 'rotaton:'));
    expect(e.oneLine()).toMatch(/^\/srv\/fleet\/deploy-keys\.yaml:14: rotaton: unknown key \(allowed here: /);
  });

  it('rejects bad repo names, URLs, paths and forge settings', () => {
    expect(failure(BASE.replace('  nix-config:\n', '  Nix_Config:\n')).oneLine()).toMatch(/repos\.Nix_Config: repo name must match/);
    expect(failure(BASE.replace('git@github.com:acme/nix-config.git', 'https://github.com/acme/x')).oneLine()).toMatch(/:8: repos\.nix-config\.url: .*neither scp-like/);
    expect(failure(BASE.replace('acme/nix-config.git', "acme/$(reboot).git")).oneLine()).toMatch(/invalid path/);
    expect(failure(BASE.replace('/root/nix-config', 'root/nix-config')).oneLine()).toMatch(/clone_to: .*absolute path/);
    expect(failure(BASE.replace('/root/nix-config', '/root/../etc')).oneLine()).toMatch(/clone_to/);
    expect(failure(BASE.replace('secrets_dir: sops', 'secrets_dir: ../elsewhere')).oneLine()).toMatch(/outside the config directory/);
    expect(failure(BASE.replace('type: github', 'type: bitbucket')).oneLine()).toMatch(/unknown forge type "bitbucket" \(use github, gitea, gitlab, ssh or manual\)/);
    expect(failure(BASE.replace('token_env: GITHUB_TOKEN', 'token_env: "GITHUB TOKEN"')).oneLine()).toMatch(/environment variable name/);
    expect(failure(BASE.replace('known_hosts: []', 'known_hosts: ["not a key"]')).oneLine()).toMatch(/known_hosts\.0: is not a known_hosts line/);
    expect(failure(BASE.replace('  max_age_days: 90', '  max_age_days: -1')).oneLine()).toMatch(/whole number/);
  });

  it('refuses plain http except on loopback, and credentials in the URL', () => {
    const withUrl = (u: string) => BASE.replace('  token_env: GITHUB_TOKEN', `  token_env: GITHUB_TOKEN\n  api_url: ${u}`);
    expect(parseConfig(withUrl('http://127.0.0.1:8080/'), FILE).forge).toMatchObject({ apiUrl: 'http://127.0.0.1:8080' });
    expect(failure(withUrl('http://ghe.example.com/api/v3')).oneLine()).toMatch(/must use https/);
    expect(failure(withUrl('https://user:pw@ghe.example.com/api/v3')).oneLine()).toMatch(/credentials/);
  });

  it('reports YAML syntax errors with a line', () => {
    expect(failure('repos:\n  a: [\n').oneLine()).toMatch(/deploy-keys\.yaml:\d+: invalid YAML/);
  });

  it('gitlab: gitlab.com by default, self-managed through api_url, token from token_env', () => {
    const gl = (forge: string) => parseConfig(BASE.replace(/forge:\n {2}type: github\n {2}token_env: GITHUB_TOKEN\n/, `forge:\n${forge}`), FILE).forge;
    expect(gl('  type: gitlab\n')).toEqual({ type: 'gitlab', apiUrl: 'https://gitlab.com/api/v4', tokenEnv: 'GITLAB_TOKEN' });
    expect(gl('  type: gitlab\n  api_url: https://git.example.com/api/v4/\n  token_env: GL\n')).toEqual({ type: 'gitlab', apiUrl: 'https://git.example.com/api/v4', tokenEnv: 'GL' });
    expect(failure(BASE.replace('type: github', 'type: gitlab\n  writes_per_minute: 3')).oneLine()).toMatch(/forge\.writes_per_minute: unknown key/);
  });

  it('github: forge.auth names a GitHub App; its key file is resolved against the config directory', () => {
    const app = (auth: string) => BASE.replace('  token_env: GITHUB_TOKEN\n', `  auth:\n${auth}`);
    expect(parseConfig(app('    type: app\n    app_id: 123456\n    private_key_file: secrets/app.pem\n'), FILE).forge).toEqual({
      type: 'github',
      apiUrl: 'https://api.github.com',
      auth: { type: 'app', appId: 123456, privateKeyFile: '/srv/fleet/secrets/app.pem' },
      writesPerMinute: 80,
      writesPerHour: 500,
    });
    expect(parseConfig(app('    type: app\n    app_id: Iv23liABCDEF\n    private_key_file: /etc/app.pem\n    installation_id: 42\n'), FILE).forge).toMatchObject({
      auth: { type: 'app', appId: 'Iv23liABCDEF', privateKeyFile: '/etc/app.pem', installationId: 42 },
    });
    expect(failure(app('    type: app\n    private_key_file: k.pem\n')).oneLine()).toMatch(/forge\.auth\.app_id: is missing/);
    expect(failure(app('    type: app\n    app_id: -1\n    private_key_file: k.pem\n')).oneLine()).toMatch(/app_id: must be the App ID/);
    expect(failure(app('    type: app\n    app_id: 1\n')).oneLine()).toMatch(/forge\.auth\.private_key_file: is missing/);
    expect(failure(app('    type: app\n    app_id: 1\n    private_key_file: k.pem\n    installation_id: 0\n')).oneLine()).toMatch(/installation_id: must be a whole number/);
    expect(failure(app('    type: token\n')).oneLine()).toMatch(/forge\.auth\.type: "token" is not an auth type/);
    expect(failure(app('    type: app\n    app_id: 1\n    private_key_file: k.pem\n    secret: x\n')).oneLine()).toMatch(/forge\.auth\.secret: unknown key/);
    expect(failure(BASE.replace('  token_env: GITHUB_TOKEN\n', '  token_env: GITHUB_TOKEN\n  auth:\n    type: app\n    app_id: 1\n    private_key_file: k.pem\n')).oneLine()).toMatch(
      /forge\.token_env: cannot be used together with auth/,
    );
  });

  it('accepts an ssh forge with a local authorized_keys file', () => {
    const c = parseConfig(BASE.replace(/forge:\n {2}type: github\n {2}token_env: GITHUB_TOKEN\n/, 'forge:\n  type: ssh\n  authorized_keys: /srv/git/.ssh/authorized_keys\n'), FILE);
    expect(c.forge).toEqual({ type: 'ssh', authorizedKeys: '/srv/git/.ssh/authorized_keys' });
  });
});

describe('config paths and ssh targets (issue 10, finding 10)', () => {
  const ssh = (forge: string) => BASE.replace(/forge:\n {2}type: github\n {2}token_env: GITHUB_TOKEN\n/, `forge:\n  type: ssh\n${forge}`);

  it('secrets_dir must be a subdirectory: "." would put the activation scripts outside the repository', () => {
    for (const dir of ['.', './', 'sops/..']) {
      expect(failure(BASE.replace('secrets_dir: sops', `secrets_dir: "${dir}"`)).oneLine(), dir).toMatch(/secrets_dir: ".*" is the config directory itself \(use a subdirectory, e\.g\. sops\)/);
    }
    expect(parseConfig(BASE.replace('secrets_dir: sops', 'secrets_dir: secrets/sops'), FILE).secretsDir).toBe('/srv/fleet/secrets/sops');
  });

  it('a relative local authorized_keys resolves against the config file, not the working directory', () => {
    expect(parseConfig(ssh('  authorized_keys: rel/ak\n'), FILE).forge).toEqual({ type: 'ssh', authorizedKeys: '/srv/fleet/rel/ak' });
    expect(failure(ssh('  authorized_keys: "a\\nb"\n')).oneLine()).toMatch(/authorized_keys: must be a file path on one line/);
  });

  it('a remote authorized_keys is the path on the server, as written', () => {
    const c = parseConfig(ssh('  authorized_keys: .ssh/authorized_keys\n  target: git@git.example.org\n'), FILE);
    expect(c.forge).toEqual({ type: 'ssh', authorizedKeys: '.ssh/authorized_keys', target: 'git@git.example.org' });
    expect(failure(ssh("  authorized_keys: \"x';reboot\"\n  target: git@h.example\n")).oneLine()).toMatch(/authorized_keys: .* on the server/);
    expect(failure(ssh('  authorized_keys: -x\n  target: git@h.example\n')).oneLine()).toMatch(/authorized_keys: "-x"/);
  });

  it('forge.target is user@host and never option-like', () => {
    for (const t of ['git@-oProxyCommand', 'git@-oProxyCommand=sh', '-oProxyCommand=x@h', 'git@h x', 'git', 'git@h_1.example', 'git@']) {
      expect(failure(ssh(`  authorized_keys: /ak\n  target: "${t}"\n`)).oneLine(), t).toMatch(/forge\.target: /);
    }
    expect(parseConfig(ssh('  authorized_keys: /ak\n  target: git@[::1]\n'.replace('[::1]', '::1')), FILE).forge).toMatchObject({ target: 'git@::1' });
  });
});

describe('repo URLs', () => {
  it('parses scp-like and ssh:// forms', () => {
    expect(parseRepoUrl('git@github.com:acme/nix-config.git')).toMatchObject({ user: 'git', host: 'github.com', port: 22, path: 'acme/nix-config.git', owner: 'acme', repo: 'nix-config' });
    expect(parseRepoUrl('ssh://git@127.0.0.1:2222/srv/git/acme/nix-secrets.git')).toMatchObject({ host: '127.0.0.1', port: 2222, path: '/srv/git/acme/nix-secrets.git', owner: 'acme', repo: 'nix-secrets' });
    expect(parseRepoUrl('ssh://git@[::1]:2222/srv/a/b.git')).toMatchObject({ host: '::1', port: 2222 });
  });
  it('normalises the host to lowercase, as ssh compares it (one spelling for pins, aliases and lookups)', () => {
    expect(parseRepoUrl('git@GitHub.COM:Acme/X.git')).toMatchObject({ host: 'github.com', owner: 'Acme', repo: 'X', raw: 'git@GitHub.COM:Acme/X.git' });
    expect(parseRepoUrl('ssh://git@[::ABCD]:22/a/b')).toMatchObject({ host: '::abcd' });
  });
  it('rejects anything that could escape into a shell or an ssh config', () => {
    for (const bad of ['git@github.com:acme/x y.git', "git@github.com:acme/x';rm.git", 'git@git hub.com:a/b', 'ssh://git@h:99999/a/b', 'git@github.com:only', '-oProxyCommand=x@h:a/b', 'git@-h:a/b']) {
      expect(typeof parseRepoUrl(bad), bad).toBe('string');
    }
  });
});

describe('per-host repos: repos.<name>.hosts / except, host_groups', () => {
  const FLEET = `forge:
  type: manual
host_groups:
  web: [web-*, edge-01]
  canary: [web-canary-?]
repos:
  nix-config:
    url: git@github.com:acme/nix-config.git
  nix-secrets:
    url: git@github.com:acme/nix-secrets.git
    hosts: [group:web, db-0?]
    except: [group:canary]
  monitoring:
    url: git@github.com:acme/monitoring.git
    except: [db-*]
`;

  it('a repo without hosts goes to every host; patterns, groups and except select', async () => {
    const { reposForHost } = await import('../../scripts/lib/config/index.js');
    const c = parseConfig(FLEET, FILE);
    const names = (h: string) => reposForHost(c, h).map((r) => r.name);
    expect(c.repos[0]!.hosts).toBeUndefined();
    expect(c.repos[1]!.hosts).toEqual({ include: ['web-*', 'edge-01', 'db-0?'], exclude: ['web-canary-?'], at: `${FILE}:11` });
    expect(names('web-17')).toEqual(['nix-config', 'nix-secrets', 'monitoring']);
    expect(names('edge-01')).toEqual(['nix-config', 'nix-secrets', 'monitoring']);
    expect(names('edge-011')).toEqual(['nix-config', 'monitoring']);
    expect(names('web-canary-1')).toEqual(['nix-config', 'monitoring']);
    expect(names('web-canary-12')).toEqual(['nix-config', 'nix-secrets', 'monitoring']);
    expect(names('db-01')).toEqual(['nix-config', 'nix-secrets']);
    expect(names('db-011')).toEqual(['nix-config']);
    expect(names('xweb-1')).toEqual(['nix-config', 'monitoring']);
  });

  it('a host no repo selects, and a --repo not for the host: the file, the line and the fix', async () => {
    const { assertHostRepos, assertRepoForHost } = await import('../../scripts/lib/config/index.js');
    const c = parseConfig(FLEET.replace('  nix-config:\n    url: git@github.com:acme/nix-config.git\n', '  nix-config:\n    url: git@github.com:acme/nix-config.git\n    hosts: [web-*]\n'), FILE);
    const line = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return (e as ConfigError).oneLine();
      }
      return 'no error';
    };
    expect(line(() => assertHostRepos(c, 'db-99'))).toMatch(/host db-99 gets no repo: .*deploy-keys\.yaml selects it \(check the name, or add it to the hosts of a repo: nix-config \(\/srv\/fleet\/deploy-keys\.yaml:9\), nix-secrets \(.*:12\), monitoring \(.*:16\); a host that should lose every repo is removed with "deploy-keys revoke db-99"\)$/);
    expect(assertHostRepos(c, 'db-01').map((r) => r.name)).toEqual(['nix-secrets']);
    expect(line(() => assertRepoForHost(c, 'db-01', 'nix-config'))).toMatch(/^repo nix-config is not for host db-01: \/srv\/fleet\/deploy-keys\.yaml:9 does not select it \(add db-01 .* to repos\.nix-config\.hosts there/);
    expect(() => assertRepoForHost(c, 'db-01', 'nope')).toThrow(/repo "nope" is not in/);
    expect(assertRepoForHost(c, 'web-01', 'nix-config').name).toBe('nix-config');
  });

  it('rejects bad patterns, unknown and nested groups, empty lists, each with file:line and a fix', () => {
    const bad = (from: string, to: string) => failure(FLEET.replace(from, to)).oneLine();
    expect(bad('db-0?]', 'DB-0?]')).toMatch(/deploy-keys\.yaml:11: repos\.nix-secrets\.hosts\.1: "DB-0\?" has upper-case letters/);
    expect(bad('db-0?]', 'db_01]')).toMatch(/:11: repos\.nix-secrets\.hosts\.1: "db_01" is not a host name or pattern/);
    expect(bad('db-0?]', '-db]')).toMatch(/hosts\.1: "-db" is not an RFC 1123 label/);
    expect(bad('group:web, db-0?]', 'group:wbe, db-0?]')).toMatch(/:11: repos\.nix-secrets\.hosts\.0: unknown host group "wbe" \(defined in host_groups: web, canary\)/);
    expect(bad('[web-canary-?]', '[group:web]')).toMatch(/:5: host_groups\.canary\.0: "group:web": a group cannot name another group/);
    expect(bad('[web-canary-?]', '[]')).toMatch(/:5: host_groups\.canary: must list at least one host name or pattern/);
    expect(bad('  canary:', '  Canary:')).toMatch(/host_groups\.Canary: "Canary" is not a group name/);
    expect(bad('hosts: [group:web, db-0?]', 'hosts: []')).toMatch(/:11: repos\.nix-secrets\.hosts: is an empty list \(name at least one host, pattern or group:NAME, or remove hosts: to give the repo to every host\)/);
    expect(bad('hosts: [group:web, db-0?]', 'hosts: web-*')).toMatch(/repos\.nix-secrets\.hosts: must be a list of host names, patterns or group:NAME/);
    expect(bad('except: [db-*]', 'exept: [db-*]')).toMatch(/repos\.monitoring\.exept: unknown key \(allowed here: url, clone_to, hosts, except\)/);
    expect(bad('hosts: [group:web, db-0?]', `hosts: [${'a'.repeat(64)}]`)).toMatch(/is not a host name or pattern/);
  });
});
