/**
 * Flake inputs the deploy keys cannot serve (github:, gitlab:, https) are
 * found in flake.lock / flake.nix beside deploy-keys.yaml, and `activation`
 * warns with the git+ssh:// URL to write instead.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { flakeLockFindings, flakeNixFindings, sshFlakeRef } from '../../scripts/lib/activation/flake-inputs.js';
import { config, GITHUB_YAML, tempDir } from './fixtures.js';

const BIN = new URL('../../dist/scripts/cli/bin.js', import.meta.url).pathname;
const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
const YAML = `known_hosts:\n  - "[git.example.org]:2222 ${HOST_KEY}"\n${GITHUB_YAML}  infra:\n    url: ssh://git@git.example.org:2222/srv/git/infra.git\n`;

/** A flake.lock (version 7) with these nodes besides root. */
function lock(nodes: Record<string, unknown>): string {
  return JSON.stringify({ nodes: { root: { inputs: Object.fromEntries(Object.keys(nodes).map((n) => [n, n])) }, ...nodes }, root: 'root', version: 7 }, null, 2);
}
const node = (original: Record<string, unknown>) => ({ locked: { ...original, rev: 'abc', narHash: 'sha256-x' }, original });

describe('flake inputs the deploy keys cannot serve', () => {
  const c = config(YAML);

  test('flake.lock: github:, git+https and tarball inputs of managed repos, with the git+ssh URL to write', () => {
    const found = flakeLockFindings(
      lock({
        'nix-secrets': node({ type: 'github', owner: 'acme', repo: 'nix-secrets', ref: 'main' }),
        'nix-config': node({ type: 'github', owner: 'Acme', repo: 'Nix-Config' }),
        infra: node({ type: 'git', url: 'https://git.example.org/srv/git/infra' }),
        'infra-tar': node({ type: 'tarball', url: 'https://github.com/acme/nix-secrets' }),
        // Fine: public repos, the managed ones over ssh, other forges' repos of the same name.
        nixpkgs: node({ type: 'github', owner: 'NixOS', repo: 'nixpkgs', ref: 'nixos-24.05' }),
        'nix-secrets_2': node({ type: 'git', url: 'ssh://git@github.com/acme/nix-secrets' }),
        elsewhere: node({ type: 'gitlab', owner: 'acme', repo: 'nix-secrets' }),
        odd: node({ type: 'github', owner: 'acme', repo: 'nix-secrets"; rm -rf /' }),
      }),
      c.repos,
    );
    expect(found).toEqual([
      { where: 'flake.lock input "nix-secrets"', ref: 'github:acme/nix-secrets/main', repo: 'nix-secrets', suggestion: 'git+ssh://git@github.com/acme/nix-secrets?ref=main' },
      { where: 'flake.lock input "nix-config"', ref: 'github:Acme/Nix-Config', repo: 'nix-config', suggestion: 'git+ssh://git@github.com/acme/nix-config' },
      { where: 'flake.lock input "infra"', ref: 'git+https://git.example.org/srv/git/infra', repo: 'infra', suggestion: 'git+ssh://git@git.example.org:2222/srv/git/infra.git' },
      { where: 'flake.lock input "infra-tar"', ref: 'https://github.com/acme/nix-secrets', repo: 'nix-secrets', suggestion: 'git+ssh://git@github.com/acme/nix-secrets' },
    ]);
  });

  test('flake.nix: references not locked yet, each once', () => {
    const text = `{
      inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";
      inputs.nix-secrets = { url = "github:acme/nix-secrets"; flake = false; };
      inputs.other.url = "github:acme/nix-secrets";
      inputs.cfg.url = "git+https://github.com/acme/nix-config.git?ref=main";
      inputs.ok.url = "git+ssh://git@github.com/acme/nix-config";
    }`;
    expect(flakeNixFindings(text, c.repos).map((f) => `${f.ref} -> ${f.suggestion}`)).toEqual([
      'github:acme/nix-secrets -> git+ssh://git@github.com/acme/nix-secrets',
      'git+https://github.com/acme/nix-config.git -> git+ssh://git@github.com/acme/nix-config',
    ]);
  });

  test('the suggested URL is the configured repo over ssh, in Nix\'s flake reference form', () => {
    expect(c.repos.map((r) => sshFlakeRef(r))).toEqual([
      'git+ssh://git@github.com/acme/nix-config',
      'git+ssh://git@github.com/acme/nix-secrets',
      'git+ssh://git@git.example.org:2222/srv/git/infra.git',
    ]);
  });

  test('a file that is not a flake.lock is an error', () => {
    expect(() => flakeLockFindings('[]', c.repos)).toThrow(/not a flake\.lock/);
    expect(() => flakeLockFindings('{', c.repos)).toThrow();
  });
});

describe('deploy-keys activation warns about them', () => {
  const t = tempDir('dk-flake-');
  afterAll(() => {
    t.cleanup();
  });
  const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd: t.dir, encoding: 'utf8', env: { PATH: process.env.PATH } });

  test('one warning line per input on stderr; the script on stdout is unchanged; exit 0', () => {
    writeFileSync(path.join(t.dir, 'deploy-keys.yaml'), YAML);
    const clean = run('activation', 'web-01');
    expect(clean.status, clean.stderr).toBe(0);
    expect(clean.stderr).toBe('');
    writeFileSync(path.join(t.dir, 'flake.lock'), lock({ 'nix-secrets': node({ type: 'github', owner: 'acme', repo: 'nix-secrets' }) }));
    writeFileSync(path.join(t.dir, 'flake.nix'), '{ inputs.cfg.url = "github:acme/nix-config"; outputs = _: { }; }\n');
    const r = run('activation', 'web-01');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(clean.stdout);
    expect(r.stderr.split('\n').filter(Boolean)).toEqual([
      'warning: flake.lock input "nix-secrets": github:acme/nix-secrets (managed repo nix-secrets) is fetched over HTTPS, where the deploy keys cannot serve it; write git+ssh://git@github.com/acme/nix-secrets instead',
      'warning: flake.nix: github:acme/nix-config (managed repo nix-config) is fetched over HTTPS, where the deploy keys cannot serve it; write git+ssh://git@github.com/acme/nix-config instead',
    ]);
  });

  test('an unreadable flake.lock is one warning naming the file, never its raw bytes', () => {
    writeFileSync(path.join(t.dir, 'deploy-keys.yaml'), YAML);
    writeFileSync(path.join(t.dir, 'flake.nix'), '{ }\n');
    writeFileSync(path.join(t.dir, 'flake.lock'), '\x1b[31m not json');
    const r = run('activation', 'web-01', '--json');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^warning: \S+\/flake\.lock: not checked for inputs the deploy keys cannot serve \([^\n]*\)\n$/);
    expect(r.stderr).not.toContain('\x1b');
  });
});
