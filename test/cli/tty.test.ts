/** Behaviour at a terminal, through a real pty (util-linux `script`). */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { describe, expect, it } from 'vitest';
import { haveTools } from '../helpers/tools.js';

const BIN = new URL('../../dist/scripts/cli/bin.js', import.meta.url).pathname;

/** Runs the CLI on a pty; `answers` are typed once it is waiting. Returns what the terminal showed. */
function onTty(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; answers?: string } = {}): Promise<{ code: number | null; screen: string }> {
  const cmd = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const child = spawn('script', ['-qec', cmd, '/dev/null'], { cwd: opts.cwd, env: { PATH: process.env.PATH, TERM: 'xterm', ...opts.env } });
  let screen = '';
  let answered = 0;
  // The CLI may exit before `script` has passed on an answer: a closed pipe is not a test failure.
  child.stdin.on('error', () => {});
  child.stdout.on('data', (d: Buffer) => {
    screen += d.toString();
    // One answer per prompt shown, never again for output that follows a prompt.
    const prompts = screen.match(/press Enter/g)?.length ?? 0;
    for (; opts.answers && answered < prompts; answered++) child.stdin.write(opts.answers);
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, screen })));
}

describe.skipIf(!haveTools('script'))('at a terminal', () => {
  it('colours errors, unless NO_COLOR is set', async () => {
    expect((await onTty(['frobnicate'])).screen).toContain('\x1b[31mdeploy-keys:');
    const plain = await onTty(['frobnicate'], { env: { NO_COLOR: '1' } });
    expect(plain.code).toBe(2);
    expect(plain.screen).not.toContain('\x1b[');
  });

  it('vm-fresh without a token falls back to the manual checklist and says why', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dk-tty-'));
    mkdirSync(path.join(dir, 'sops'));
    const id = await generateX25519Identity();
    writeFileSync(path.join(dir, '.sops.yaml'), `creation_rules:\n  - age: ${await identityToRecipient(id)}\n`);
    writeFileSync(path.join(dir, 'deploy-keys.yaml'), 'repos:\n  nix-config:\n    url: git@github.com:acme/nix-config.git\n');
    const r = await onTty(['vm-fresh', 'web-01', '--yes'], { cwd: dir, env: { SOPS_AGE_KEY: id, NO_COLOR: '1' }, answers: '\n' });
    expect(r.code, r.screen).toBe(0);
    expect(r.screen).toMatch(/no token in \$GITHUB_TOKEN/);
    expect(r.screen).toContain('https://github.com/acme/nix-config/settings/keys/new');
    expect(r.screen).toMatch(/UNCHECKED/);
    expect(r.screen).not.toContain('PRIVATE KEY');
    expect(existsSync(path.join(dir, 'sops/web-01.yaml'))).toBe(true);
    const state = JSON.parse(readFileSync(path.join(dir, 'sops/deploy-keys-state/web-01.json'), 'utf8')) as { repos: Record<string, { current?: { pending?: boolean } }> };
    expect(state.repos['nix-config']?.current?.pending).toBe(true);
  });
});
