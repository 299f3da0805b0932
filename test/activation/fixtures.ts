/** Configs, keys and temp trees for the activation tests. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig, type Config } from '../../scripts/lib/config/index.js';

export function config(yaml: string): Config {
  return parseConfig(yaml, '/srv/fleet/deploy-keys.yaml');
}

export const GITHUB_YAML = `
repos:
  nix-config:
    url: git@github.com:acme/nix-config.git
  nix-secrets:
    url: git@github.com:acme/nix-secrets.git
    clone_to: /var/lib/nix-secrets
`;

export function sshForgeYaml(port: number, hostKeyLine: string, repoPaths: Record<string, string>, cloneRoot = '/srv/clones'): string {
  const repos = Object.entries(repoPaths)
    .map(([name, p]) => `  ${name}:\n    url: ssh://git@127.0.0.1:${port}${p}\n    clone_to: ${cloneRoot}/${name}\n`)
    .join('');
  return `forge:\n  type: manual\nknown_hosts:\n  - "${hostKeyLine}"\nrepos:\n${repos}`;
}

export interface TempDir {
  dir: string;
  cleanup(): void;
}

export function tempDir(prefix = 'dk-act-'): TempDir {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface KeyPair {
  privatePem: string;
  publicLine: string;
}

/** A real ssh-keygen ed25519 key, made in a 0700 temp dir that is removed at once. */
export function makeKey(comment: string): KeyPair {
  const t = tempDir('dk-key-');
  try {
    const f = path.join(t.dir, 'k');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', f]);
    return { privatePem: readFileSync(f, 'utf8'), publicLine: readFileSync(`${f}.pub`, 'utf8').trim() };
  } finally {
    t.cleanup();
  }
}

/** A host filesystem for `--root`: `<dir>/root-fs/{root,etc}`, plus a 0700 keys dir holding two real keys. */
export interface Sandbox extends TempDir {
  root: string;
  keysDir: string;
  keys: Record<string, KeyPair>;
}

export function sandbox(): Sandbox {
  const t = tempDir();
  const root = path.join(t.dir, 'root-fs');
  mkdirSync(path.join(root, 'root'), { recursive: true });
  mkdirSync(path.join(root, 'etc'));
  const keysDir = path.join(t.dir, 'keys');
  mkdirSync(keysDir, { mode: 0o700 });
  const keys = { 'nix-config': makeKey('web-01-nix-config-deploy'), 'nix-secrets': makeKey('web-01-nix-secrets-deploy') };
  for (const [n, k] of Object.entries(keys)) writeFileSync(path.join(keysDir, n), k.privatePem, { mode: 0o600 });
  return { ...t, root, keysDir, keys };
}
