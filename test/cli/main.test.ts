import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const BIN = new URL('../../dist/scripts/cli/bin.js', import.meta.url).pathname;

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('deploy-keys CLI frame', () => {
  it('prints help listing every command, exit 0', () => {
    const r = run(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['vm-fresh', 'rotate', 'revoke', 'status', 'audit', 'activation', 'activate', 'bootstrap', 'sops', 'keygen', 'ssh-to-age']) {
      expect(r.stdout).toContain(`  ${c} `);
    }
    expect(r.stdout).toMatch(/Exit status: 0 success, 1 failure, 2 usage error/);
  });

  it('exits 2 with one line for an unknown command or option', () => {
    for (const args of [['frobnicate'], ['--frob'], []]) {
      const r = run(args);
      expect(r.code, args.join(' ')).toBe(2);
    }
    const r = run(['frobnicate']);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^deploy-keys: unknown command "frobnicate" \(see deploy-keys --help\)$/m);
  });

  it('prints --version from package.json', () => {
    const pkg = JSON.parse(execFileSync('cat', [new URL('../../package.json', import.meta.url).pathname], { encoding: 'utf8' })) as { version: string };
    expect(run(['--version']).stdout.trim()).toBe(pkg.version);
  });

  it('never colours output that is not a terminal', () => {
    const r = run(['frobnicate'], { FORCE_COLOR: '1' });
    expect(r.stderr).not.toContain('\x1b[');
  });

  it('reports a missing config file as one line naming it, exit 1', () => {
    const r = run(['--config', '/nonexistent/deploy-keys.yaml', 'status']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^deploy-keys: \/nonexistent\/deploy-keys\.yaml: not found \(.*--config FILE.*\)$/);
  });
});
