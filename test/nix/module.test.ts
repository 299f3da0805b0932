/**
 * The NixOS module, evaluated by lib.evalModules with the real nixpkgs lib and
 * the real sops-nix module (pinned in test/nix/inputs.nix), through the
 * scenarios of nix/checks/module.nix (what `nix flake check` runs), plus what
 * only this side can check:
 *  - the module's script is byte for byte the CLI's for the same fleet;
 *  - with `deploy-keys activation --json` as descriptionFile, it is the script
 *    vm-fresh wrote, public keys included;
 *  - the sops-nix manifest holds every field sops-install-secrets (the Go
 *    program of the same sops-nix revision) reads, with values it accepts,
 *    and each secret's key finds the private key in the host file vm-fresh
 *    wrote, walked as sops-install-secrets walks nested keys.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { gitSshCommand } from '../../scripts/lib/activation/index.js';
import { decryptFile } from '../../scripts/lib/sops/index.js';
import { tempDir } from '../activation/fixtures.js';
import { nixInputs } from '../helpers/nix.js';

const REPO = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(REPO, 'dist/scripts/cli/bin.js');
const FIXTURE_FLEET = path.join(REPO, 'nix/checks/fleet');
const inputs = nixInputs();
// nix/checks/module.nix's scenarios: configurations that must evaluate cleanly, then those an assertion must reject.
const SCENARIOS = [
  'root',
  'non-root-user',
  'systemd-sysusers',
  'systemd-activation-option',
  'userborn',
  'no-clone',
  'auto-upgrade',
  'no-git-ssh',
  'secret-paths',
  'secrets-root',
  'description-file',
  'description-file-per-host',
  'imported-twice',
  'disabled',
  'bad-url',
  'missing-pin',
  'undeclared-user',
  'no-sops-nix',
  'scattered-secret-paths',
  'description-for-another-host',
];

function cli(cwd: string, env: NodeJS.ProcessEnv, ...args: string[]): string {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', input: '' });
  if (r.status !== 0) throw new Error(`deploy-keys ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

const nixPath = (p: string) => `(/. + ${JSON.stringify(p)})`;

interface Secret {
  name: string;
  key: string;
  path: string;
  sopsFile: string;
  [field: string]: unknown;
}
interface Summary {
  failedAssertions: string[];
  script: string;
  gitconfig: string | null;
  manifest: { secrets: Secret[] };
}
interface Scenario {
  failures: string[];
  summary: Summary;
}

/** The fields of sops-install-secrets' `secret` struct: json name -> Go type. */
function goSecretFields(mainGo: string): Map<string, { type: string; omitempty: boolean }> {
  const body = /\ntype secret struct \{\n([\s\S]*?)\n\}/.exec(mainGo)?.[1];
  if (!body) throw new Error('sops-install-secrets main.go: no `type secret struct`');
  const fields = new Map<string, { type: string; omitempty: boolean }>();
  for (const m of body.matchAll(/^\s*\w+\s+(\S+)\s+`json:"([^",]+)(,omitempty)?"`/gm)) fields.set(m[2]!, { type: m[1]!, omitempty: !!m[3] });
  return fields;
}

/** sops-install-secrets' recurseSecretKey: "/" separates nested mapping keys. */
function lookUp(tree: unknown, key: string): unknown {
  let node = tree;
  for (const part of key.split('/')) {
    if (!(node instanceof Map)) return undefined;
    node = node.get(part);
  }
  return node;
}

describe.skipIf(!inputs.ok)(`the NixOS module with nixpkgs lib and sops-nix${inputs.ok ? '' : ` (skipped: ${inputs.reason})`}`, () => {
  const t = tempDir('dk-nixmod-');
  afterAll(() => t.cleanup());
  const fleet = path.join(t.dir, 'fleet');
  let env: NodeJS.ProcessEnv;
  let scenarios: Record<string, Scenario>;

  const evalScenario = (name: string): Scenario =>
    JSON.parse(
      execFileSync(
        'nix-instantiate',
        [
          '--eval',
          '--strict',
          '--json',
          '-E',
          `let i = import ${path.join(REPO, 'test/nix/inputs.nix')}; in (import ${path.join(REPO, 'nix/checks/module.nix')} {
             inherit (i) lib nixosModules sopsModule;
             sopsFile = ${nixPath(path.join(fleet, 'sops/web-01.yaml'))};
             descriptionFile = ${nixPath(path.join(t.dir, 'web-01.json'))};
           }).scenarios.${JSON.stringify(name)}`,
        ],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
      ),
    ) as Scenario;

  // A fleet as an operator has it after vm-fresh: real keys in a real host
  // file, repos not in name order (both renderers list them by name).
  beforeAll(async () => {
    mkdirSync(path.join(fleet, 'sops'), { recursive: true });
    const identity = await generateX25519Identity();
    env = { HOME: fleet, SOPS_AGE_KEY: identity };
    writeFileSync(path.join(fleet, '.sops.yaml'), `creation_rules:\n  - age: ${await identityToRecipient(identity)}\n`);
    writeFileSync(
      path.join(fleet, 'deploy-keys.yaml'),
      readFileSync(path.join(FIXTURE_FLEET, 'deploy-keys.yaml'), 'utf8').replace(/^repos:\n[\s\S]*/m, [
        'repos:',
        '  nix-config:',
        '    url: git@github.com:acme/nix-config.git',
        '  infra:',
        '    url: ssh://git@git.example.org:2222/srv/git/infra.git',
        '    clone_to: /srv/infra',
        '',
      ].join('\n')),
    );
    cli(fleet, env, 'vm-fresh', 'web-01', '--yes');
    cli(fleet, env, 'activation', 'web-01', '--json', '--output', path.join(t.dir, 'web-01.json'));
    const names = JSON.parse(
      execFileSync('nix-instantiate', ['--eval', '--strict', '--json', '-E', `builtins.attrNames (import ${path.join(REPO, 'test/nix/inputs.nix')}).nixosModules`], {
        encoding: 'utf8',
      }),
    ) as string[];
    expect(names).toEqual(['default', 'deploy-keys', 'maintenance']);
    scenarios = {};
    for (const name of JSON.parse(
      execFileSync(
        'nix-instantiate',
        [
          '--eval',
          '--json',
          '-E',
          `builtins.attrNames (import ${path.join(REPO, 'nix/checks/module.nix')} { lib = (import ${path.join(REPO, 'test/nix/inputs.nix')}).lib; sopsModule = null; nixosModules = null; }).scenarios`,
        ],
        { encoding: 'utf8' },
      ),
    ) as string[]) {
      scenarios[name] = evalScenario(name);
    }
  }, 300_000);

  test('covers the scenarios of the issue (control)', () => {
    expect(Object.keys(scenarios).sort()).toEqual([...SCENARIOS].sort());
  });

  test.each(SCENARIOS.map((n) => [n]))('%s', (name) => {
    expect(scenarios[name]!.failures).toEqual([]);
  });

  test("the module's script is the CLI's, for root and for another user (deploy-keys.yaml not in name order)", () => {
    // Control: the fixture lists its repos out of name order, the case where the module (attribute set, by name) and the CLI used to differ.
    const names = [...readFileSync(path.join(FIXTURE_FLEET, 'deploy-keys.yaml'), 'utf8').matchAll(/^ {2}([a-z0-9][a-z0-9._-]*):$/gm)].map((m) => m[1]!);
    expect(names).toHaveLength(3);
    expect(names).not.toEqual([...names].sort());
    expect(scenarios.root!.summary.script).toBe(cli(FIXTURE_FLEET, {}, 'activation', 'web-01'));
    expect(scenarios['non-root-user']!.summary.script).toBe(cli(FIXTURE_FLEET, {}, 'activation', 'web-01', '--user', 'alice'));
  });

  test('with `activation --json` as descriptionFile, the script is the one vm-fresh wrote, expected public keys included', () => {
    const script = scenarios['description-file']!.summary.script;
    expect(script).toBe(cli(fleet, env, 'activation', 'web-01'));
    expect(script).toBe(readFileSync(path.join(fleet, 'activation/web-01.sh'), 'utf8'));
    expect(script).toMatch(/'nix-config' 'github\.com-nix-config' .* 'ssh-ed25519 AAAA\S+ web-01-nix-config-deploy'\n/);
  });

  test("root's /etc/gitconfig, as nixpkgs' toGitINI writes it, gives git exactly the core.sshCommand the script checks", () => {
    const f = path.join(t.dir, 'gitconfig');
    writeFileSync(f, scenarios.root!.summary.gitconfig ?? '');
    const value = execFileSync('git', ['config', '--file', f, '--get', 'core.sshCommand'], { encoding: 'utf8' }).replace(/\n$/, '');
    expect(value).toBe(gitSshCommand('/root'));
  });

  test('nix/checks/fleet/{web,db}-01.json are what `deploy-keys activation <host> --json` prints for its fleet', () => {
    for (const host of ['web-01', 'db-01']) {
      expect(readFileSync(path.join(FIXTURE_FLEET, `${host}.json`), 'utf8'), host).toBe(cli(FIXTURE_FLEET, {}, 'activation', host, '--json'));
    }
  });

  test("the sops-nix manifest gives sops-install-secrets every field of its secret struct, with values it accepts", () => {
    if (!inputs.ok) throw new Error('unreachable');
    const fields = goSecretFields(readFileSync(path.join(inputs.sources['sops-nix']!, 'pkgs/sops-install-secrets/main.go'), 'utf8'));
    expect([...fields.keys()]).toEqual(expect.arrayContaining(['name', 'key', 'path', 'owner', 'sopsFile', 'format', 'mode', 'restartUnits']));
    const secrets = scenarios.root!.summary.manifest.secrets;
    expect(secrets.map((s) => s.name)).toEqual(['deploy-keys/infra', 'deploy-keys/nix-config']);
    for (const s of secrets) {
      for (const [json, { type, omitempty }] of fields) {
        const v = s[json];
        const ok =
          type === 'string' || type === 'FormatType'
            ? typeof v === 'string'
            : type === '*string'
              ? typeof v === 'string' || (omitempty && (v === undefined || v === null))
              : type === 'int'
                ? Number.isInteger(v)
                : type === '[]string'
                  ? Array.isArray(v) && v.every((x) => typeof x === 'string')
                  : false;
        expect(ok, `${s.name}.${json}: ${JSON.stringify(v)} is not a Go ${type}`).toBe(true);
      }
      expect(s).toMatchObject({ key: s.name, format: 'yaml', mode: '0400', owner: 'root', path: `/run/secrets/${s.name}` });
      expect(Number.parseInt(s.mode as string, 8) & 0o077).toBe(0);
    }
  });

  test("each secret's key finds its private key in the host file vm-fresh wrote (as sops-install-secrets walks nested keys)", async () => {
    const hostFile = path.join(fleet, 'sops/web-01.yaml');
    // sops-nix puts the host file into the store and hands that copy over.
    const stored = execFileSync('nix-store', ['--add', hostFile], { encoding: 'utf8' }).trim();
    for (const s of scenarios.root!.summary.manifest.secrets) expect(s.sopsFile).toBe(stored);
    const { tree } = await decryptFile(hostFile, { env });
    for (const s of scenarios.root!.summary.manifest.secrets) {
      const value = lookUp(tree, s.key);
      expect(typeof value === 'string' && value.startsWith('-----BEGIN OPENSSH PRIVATE KEY-----\n'), `${s.key} in ${hostFile}`).toBe(true);
    }
    expect(lookUp(tree, 'deploy-keys/absent')).toBeUndefined();
  });

  test('assertions name the option and its value', () => {
    const failed = (n: string) => scenarios[n]!.summary.failedAssertions.join('\n');
    expect(failed('bad-url')).toContain('services.deploy-keys.repos.nix-config.url = "https://github.com/acme/nix-config": ');
    expect(failed('missing-pin')).toContain('services.deploy-keys.repos.infra.url = "ssh://git@git.example.org:2222/srv/git/infra.git": ');
    expect(failed('undeclared-user')).toContain('services.deploy-keys.user = "bob": no such user in users.users');
    expect(failed('no-sops-nix')).toContain('services.deploy-keys.enable = true needs sops-nix');
  });
});
