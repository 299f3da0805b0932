/**
 * A throw-away fleet repo for integration tests: deploy-keys.yaml pointing at
 * the GitHub API double, sops/ with a .sops.yaml for a fresh operator age
 * identity (handed to the code through SOPS_AGE_KEY, never argv), and a CLI
 * runner that calls main() in-process.
 */
import { mkdtempSync, promises as fs, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { afterEach, beforeEach } from 'vitest';
import { loadConfig } from '../../scripts/lib/config/load.js';
import { decryptFile } from '../../scripts/lib/sops/index.js';
import { parsePrivateKey } from '../../scripts/lib/keys/index.js';
import { startGithubApiDouble, type GithubApiDouble } from '../doubles/github-api.js';
import { runCli, type CliResult } from '../helpers/run-cli.js';

export const REPOS = { 'nix-config': 'acme/nix-config', dotfiles: 'acme/dotfiles' } as const;

export type { CliResult };

export interface FleetOptions {
  repos?: Record<string, string>;
  /** The forge's credential lines (default `token_env: GH_TOKEN`), e.g. a GitHub App's `auth:` block. */
  auth?: string;
  /** Lines added to each repo's entry, by repo name (e.g. `    hosts: [web-*]\n`). */
  repoLines?: Record<string, string>;
}

export class Fleet {
  constructor(
    readonly dir: string,
    readonly gh: GithubApiDouble,
    readonly identity: string,
    readonly recipient: string,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  static async create(gh: GithubApiDouble, opts: FleetOptions = {}): Promise<Fleet> {
    const forge = `forge:\n  type: github\n  api_url: ${gh.url}\n${opts.auth ?? '  token_env: GH_TOKEN\n'}  writes_per_minute: 0\n  writes_per_hour: 0\n`;
    const { dir, identity, recipient, env } = await fleetDir(forge, 'github.com', opts);
    return new Fleet(dir, gh, identity, recipient, { ...env, GH_TOKEN: gh.token });
  }
  get configFile() {
    return path.join(this.dir, 'deploy-keys.yaml');
  }
  config() {
    return loadConfig(this.configFile);
  }
  hostFile(host: string) {
    return path.join(this.dir, 'sops', `${host}.yaml`);
  }

  cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    return runCli(['--config', this.configFile, ...args], { ...this.env, ...env }, this.dir);
  }

  /** Decrypted host file as a plain object (Maps → objects). */
  async decrypt(host: string): Promise<Record<string, unknown>> {
    const d = await decryptFile(this.hostFile(host), { env: this.env });
    return toObj(d.tree) as Record<string, unknown>;
  }

  /** Fingerprints of every private key in the host file (all slots). */
  async storedFingerprints(host: string): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    let tree: Record<string, unknown>;
    try {
      tree = await this.decrypt(host);
    } catch {
      return out;
    }
    for (const slot of ['deploy-keys', 'deploy-keys-next', 'deploy-keys-previous']) {
      for (const [repo, text] of Object.entries((tree[slot] as Record<string, string> | undefined) ?? {})) {
        out.set(parsePrivateKey(text).fingerprint, `${slot}.${repo}`);
      }
    }
    return out;
  }

  /** Forge keys (of the double) titled for `host`, with repo. */
  forgeKeys(host?: string) {
    const out: { repo: string; id: number; title: string; key: string; read_only: boolean; last_used: string | null }[] = [];
    for (const [name, full] of Object.entries(REPOS)) {
      let keys;
      try {
        keys = this.gh.keys(full);
      } catch {
        continue;
      }
      for (const k of keys) if (!host || k.title === `${host}-${name}-deploy`) out.push({ repo: name, ...k });
    }
    return out;
  }

  writeCount(): number {
    return this.gh.requests.filter((r) => r.method === 'POST' || r.method === 'DELETE' || r.method === 'PATCH' || r.method === 'PUT').length;
  }

  cleanup() {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A fleet directory: deploy-keys.yaml with `forge` (the forge block) and the
 * repos on `gitHost`, sops/ and a .sops.yaml for a fresh operator age
 * identity, and the environment the CLI runs with.
 */
export async function fleetDir(forge: string, gitHost: string, opts: FleetOptions = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'dk-life-'));
  const repos = opts.repos ?? REPOS;
  const identity = await generateX25519Identity();
  const recipient = await identityToRecipient(identity);
  await fs.mkdir(path.join(dir, 'sops'), { mode: 0o700 });
  await fs.writeFile(
    path.join(dir, 'deploy-keys.yaml'),
    `secrets_dir: sops
${forge}repos:
${Object.entries(repos).map(([n, full]) => `  ${n}:\n    url: git@${gitHost}:${full}.git\n${opts.repoLines?.[n] ?? ''}`).join('')}rotation:
  max_age_days: 90
  grace_days: 7
`,
  );
  await fs.writeFile(
    path.join(dir, '.sops.yaml'),
    `# fleet keys
keys:
  - &operator ${recipient}
creation_rules:
  - path_regex: ^sops/.*\\.yaml$
    key_groups:
      - age:
          - *operator
`,
  );
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: dir, USER: 'tester', DEPLOY_KEYS_ACTOR: 'tester', SOPS_AGE_KEY: identity, NO_COLOR: '1' };
  return { dir, identity, recipient, env };
}

function toObj(v: unknown): unknown {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), toObj(x)]));
  if (Array.isArray(v)) return v.map(toObj);
  return v;
}

/** A new fleet with its own GitHub double (holding REPOS) for every test of the file; `use` receives it. */
export function fleetPerTest(use: (fleet: Fleet) => void): void {
  let current: Fleet | undefined;
  beforeEach(async () => {
    const gh = await startGithubApiDouble({ writesPerMinute: 0, writesPerHour: 0 });
    for (const full of Object.values(REPOS)) gh.addRepo(full);
    current = await Fleet.create(gh);
    use(current);
  });
  afterEach(async () => {
    await current?.gh.close();
    current?.cleanup();
  });
}

