/**
 * Issue 10, findings 2 and 9: no environment variable makes a key appear on a
 * terminal (NODE_DEBUG printed the whole key stream of `activate`), children
 * see only the environment they need (the operator's SOPS_AGE_KEY and tokens
 * reached sh, ssh-keygen, git and ssh), and no core dump or diagnostic report
 * holds the keys.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKey } from '../activation/fixtures.js';
import { haveTools } from '../helpers/tools.js';

const DIST = new URL('../../dist/scripts/', import.meta.url).pathname;
const BIN = path.join(DIST, 'cli/bin.js');
const TOKEN = 'ghp_tokenTOKENtoken0123456789abcdefABCDEF';
const DEBUG_SETTINGS: Record<string, string>[] = [
  ...['child_process', 'stream', 'net', 'fs', 'tls', 'http', 'child_process,stream,net,fs', '*'].map((v) => ({ NODE_DEBUG: v })),
  { NODE_DEBUG_NATIVE: '*' },
];

/** Base64 body lines of PEM keys and the other secrets a run handles. */
function secretsIn(text: string, secrets: readonly string[]): string[] {
  return secrets.filter((s) => text.includes(s));
}
const pemLines = (pem: string) => pem.split('\n').filter((l) => /^[A-Za-z0-9+/=]{20,}$/.test(l));

describe.runIf(haveTools('sh', 'ssh-keygen', 'git'))('secrets stay out of debug output, children and crash files', () => {
  let work: string;
  let sandbox: string;
  let identity: string;
  let env: NodeJS.ProcessEnv;
  let secrets: string[];
  let fakeBin: string;
  const records = () => path.join(work, 'records');
  const dk = (args: string[], extra: NodeJS.ProcessEnv = {}) => {
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd: work, env: { ...env, ...extra }, encoding: 'utf8', input: '' });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'dk-secrets-'));
    sandbox = path.join(work, 'sandbox');
    for (const d of ['root', 'etc']) mkdirSync(path.join(sandbox, d), { recursive: true });
    mkdirSync(records());
    identity = await generateX25519Identity();
    // A second identity in a keys file: SOPS_AGE_KEY_FILE must not reach children either.
    writeFileSync(path.join(work, 'keys.txt'), `${await generateX25519Identity()}\n`, { mode: 0o600 });
    const hostKey = makeKey('host').publicLine.split(' ').slice(0, 2).join(' ');
    writeFileSync(
      path.join(work, 'deploy-keys.yaml'),
      `forge:\n  type: ssh\n  authorized_keys: ak\nknown_hosts:\n  - "127.0.0.1 ${hostKey}"\nrepos:\n  nix-config:\n    url: git@127.0.0.1:acme/nix-config.git\n  nix-secrets:\n    url: git@127.0.0.1:acme/nix-secrets.git\n`,
    );
    writeFileSync(path.join(work, '.sops.yaml'), `creation_rules:\n  - path_regex: ^sops/[^/]+\\.yaml$\n    age: ${await identityToRecipient(identity)}\n`);
    // Fake ssh-keygen and git that record what they were given, then run the real ones.
    fakeBin = path.join(work, 'bin');
    mkdirSync(fakeBin);
    for (const tool of ['ssh-keygen', 'git', 'ssh']) {
      const real = execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
      writeFileSync(
        path.join(fakeBin, tool),
        `#!/bin/sh\nenv > '${records()}/${tool}.env'\ncat /proc/self/coredump_filter > '${records()}/${tool}.coredump_filter' 2>/dev/null\nulimit -c > '${records()}/${tool}.ulimit'\nexec '${real}' "$@"\n`,
        { mode: 0o755 },
      );
    }
    env = {
      PATH: `${fakeBin}:${process.env.PATH ?? ''}`,
      HOME: work,
      SOPS_AGE_KEY: identity,
      SOPS_AGE_KEY_FILE: path.join(work, 'keys.txt'),
      GH_TOKEN: TOKEN,
      GITHUB_TOKEN: TOKEN,
      SSH_AUTH_SOCK: path.join(work, 'agent.sock'),
      LC_ALL: 'C',
      NO_COLOR: '1',
    };
    const fresh = dk(['vm-fresh', 'web-01', '--yes']);
    expect(fresh.code, fresh.err).toBe(0);
    const dec = dk(['sops', 'decrypt', 'sops/web-01.yaml', '--output-type', 'json']);
    expect(dec.code, dec.err).toBe(0);
    const keys = Object.values((JSON.parse(dec.out) as { 'deploy-keys': Record<string, string> })['deploy-keys']);
    secrets = [identity, TOKEN, ...keys.flatMap(pemLines)];
    expect(secrets.length).toBeGreaterThan(6);
  });
  afterAll(() => { rmSync(work, { recursive: true, force: true }); });

  describe('debug output (finding 2)', () => {
    it.each(DEBUG_SETTINGS.map((s) => [Object.entries(s).map(([k, v]) => `${k}=${v}`).join(' '), s] as const))(
      'the CLI refuses to run with %s: one line, exit 2, nothing written, no secret printed',
      (_, setting) => {
        const r = dk(['activate', 'web-01', '--root', sandbox], setting);
        expect(r.code).toBe(2);
        // (NODE_DEBUG=* also shows Node loading modules before the CLI starts.)
        expect(r.err.trim().split('\n').at(-1)).toMatch(/^deploy-keys: NODE_DEBUG(_NATIVE)? is set: Node's debug output would print keys/);
        expect(secretsIn(r.out + r.err, secrets)).toEqual([]);
        expect(readdirSync(path.join(sandbox, 'root'))).toEqual([]);
      },
    );

    // The refusal comes before any command runs: it covers every command that handles a secret, not only activate.
    it.each([
      ['vm-fresh', 'web-02', '--yes'],
      ['rotate', 'web-01', '--force', '--yes'],
      ['sops', 'decrypt', 'sops/web-01.yaml'],
      ['bootstrap', 'web-01', '--target', 'root@host.invalid'],
    ])('%s %s … under NODE_DEBUG=child_process,stream,net: refused, nothing printed or changed', (...args) => {
      const snapshot = () =>
        readdirSync(work, { recursive: true, encoding: 'utf8' })
          .map((f) => path.join(work, f))
          .filter((f) => statSync(f).isFile())
          .map((f) => `${f}\n${readFileSync(f, 'latin1')}`)
          .sort();
      const before = snapshot();
      const r = dk(args, { NODE_DEBUG: 'child_process,stream,net' });
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      expect(r.err).toMatch(/^deploy-keys: NODE_DEBUG is set: Node's debug output would print keys[^\n]*\n$/);
      expect(secretsIn(r.out + r.err, secrets)).toEqual([]);
      expect(snapshot()).toEqual(before);
    });

    // The library itself (also used without the CLI) hands keys only to the pipe it writes: nothing for Node to log.
    it.each(DEBUG_SETTINGS.map((s) => [Object.entries(s).map(([k, v]) => `${k}=${v}`).join(' '), s] as const))(
      'runActivation and bootstrapOverSsh under %s print no key and no secret variable',
      (_, setting) => {
        const keys = { 'nix-config': makeKey('a').privatePem, 'nix-secrets': makeKey('b').privatePem };
        const sink = path.join(work, 'fake-ssh');
        writeFileSync(sink, '#!/bin/sh\ncat >/dev/null\n', { mode: 0o755 });
        const prog = `
          const { runActivation, bootstrapOverSsh } = await import(${JSON.stringify(path.join(DIST, 'lib/activation/run.js'))});
          const keys = new Map(Object.entries(${JSON.stringify(keys)}));
          const script = 'cat >/dev/null; echo ran\\n# end of deploy-keys activation script\\n';
          const a = await runActivation({ script, keys });
          const b = await bootstrapOverSsh({ script, target: 'root@host.example', keys, ssh: ${JSON.stringify(sink)} });
          process.stdout.write(a.exitCode + ' ' + a.stdout.trim() + ' ' + b.exitCode);
        `;
        const r = spawnSync(process.execPath, ['--input-type=module', '-e', prog], { env: { ...env, ...setting }, encoding: 'utf8' });
        expect(r.stdout, r.stderr.slice(-2000)).toBe('0 ran 0');
        if (setting.NODE_DEBUG === '*') expect(r.stderr).toMatch(/CHILD_PROCESS|STREAM/); // debug output was really on
        expect(secretsIn(r.stderr, [...secrets, ...Object.values(keys).flatMap(pemLines)])).toEqual([]);
      },
    );
  });

  describe('what children see (finding 9)', () => {
    const recorded = (tool: string) => readFileSync(path.join(records(), `${tool}.env`), 'utf8');

    it('activate: sh, ssh-keygen and git get PATH, HOME and the locale, never the identity or a token', () => {
      rmSync(records(), { recursive: true });
      mkdirSync(records());
      const r = dk(['activate', 'web-01', '--root', sandbox, '--no-clone']);
      expect(r.code, r.err + r.out).toBe(0);
      for (const tool of ['ssh-keygen', 'git']) {
        const seen = recorded(tool);
        expect(seen, tool).toMatch(/^PATH=/m);
        expect(seen, tool).toMatch(/^LC_ALL=C$/m);
        expect(seen, tool).not.toMatch(/^(SOPS_AGE_KEY|SOPS_AGE_KEY_FILE|GH_TOKEN|GITHUB_TOKEN|SSH_AUTH_SOCK)=/m);
        expect(secretsIn(seen, secrets), tool).toEqual([]);
      }
    });

    it('bootstrap: ssh also gets the agent socket (to log in), nothing secret', () => {
      rmSync(records(), { recursive: true });
      mkdirSync(records());
      // The fake ssh records and then fails to connect (no such host): what it saw is what matters.
      dk(['bootstrap', 'web-01', '--target', 'root@host.invalid', '--no-clone']);
      const seen = recorded('ssh');
      expect(seen).toMatch(/^SSH_AUTH_SOCK=/m);
      expect(seen).not.toMatch(/^(SOPS_AGE_KEY|SOPS_AGE_KEY_FILE|GH_TOKEN|GITHUB_TOKEN)=/m);
    });

    it("the ssh forge's ssh (a remote authorized_keys) gets the agent socket, nothing secret", () => {
      rmSync(records(), { recursive: true });
      mkdirSync(records());
      const text = readFileSync(path.join(work, 'deploy-keys.yaml'), 'utf8');
      writeFileSync(path.join(work, 'remote.yaml'), text.replace('  authorized_keys: ak\n', '  authorized_keys: .ssh/authorized_keys\n  target: git@host.invalid\n'));
      // The fake ssh records, then the real one fails to connect: what it saw is what matters.
      const r = dk(['--config', 'remote.yaml', 'status']);
      expect(r.err).toMatch(/host\.invalid/);
      const seen = recorded('ssh');
      expect(seen).toMatch(/^SSH_AUTH_SOCK=/m);
      expect(seen).not.toMatch(/^(SOPS_AGE_KEY|SOPS_AGE_KEY_FILE|GH_TOKEN|GITHUB_TOKEN)=/m);
      expect(secretsIn(seen, secrets)).toEqual([]);
    });

    it("vm-fresh's git (who made the change, for the audit log) sees no identity or token", () => {
      rmSync(records(), { recursive: true });
      mkdirSync(records());
      const r = dk(['rotate', 'web-01', '--force', '--yes']);
      expect(r.code, r.err).toBe(0);
      const seen = recorded('git');
      expect(seen).not.toMatch(/^(SOPS_AGE_KEY|SOPS_AGE_KEY_FILE|GH_TOKEN|GITHUB_TOKEN)=/m);
    });
  });

  describe('crash files (finding 9)', () => {
    it('the CLI keeps its memory out of core dumps, and so do its children; the script sets ulimit -c 0', () => {
      rmSync(records(), { recursive: true });
      mkdirSync(records());
      const r = spawnSync('sh', ['-c', 'ulimit -c unlimited 2>/dev/null; exec "$@"', 'sh', process.execPath, BIN, 'activate', 'web-01', '--root', sandbox, '--no-clone'], {
        cwd: work,
        env,
        encoding: 'utf8',
      });
      expect(r.status, r.stderr).toBe(0);
      // Inherited from the node process through sh: no memory mapping in a core file.
      expect(readFileSync(path.join(records(), 'git.coredump_filter'), 'utf8').trim()).toBe('00000000');
      // And the activation script forbids core files outright for itself and what it runs.
      expect(readFileSync(path.join(records(), 'ssh-keygen.ulimit'), 'utf8').trim()).toBe('0');
    });

    it('a diagnostic report (NODE_OPTIONS=--report-uncaught-exception) cannot write out the environment', () => {
      const dir = mkdtempSync(path.join(work, 'report-'));
      const run = (harden: boolean) => {
        const prog = `const { hardenProcess } = await import(${JSON.stringify(path.join(DIST, 'lib/process/index.js'))}); ${harden ? 'hardenProcess();' : ''} process.nextTick(() => { throw new Error('boom'); });`;
        const r = spawnSync(process.execPath, ['--input-type=module', '-e', prog], { env: { ...env, NODE_OPTIONS: `--report-uncaught-exception --report-directory=${dir}` }, encoding: 'utf8' });
        expect(r.stderr).toContain('boom');
        const reports = readdirSync(dir).map((f) => readFileSync(path.join(dir, f), 'utf8'));
        for (const f of readdirSync(dir)) rmSync(path.join(dir, f));
        return reports;
      };
      const control = run(false);
      expect(control.join('')).toContain(identity); // without the hardening the report lists every variable
      expect(run(true)).toEqual([]);
    });

    // Where the kernel hands cores to a program (core_pattern `|…`) the test
    // cannot read them; in CI that is a failure like a missing tool, not a skip.
    const coresLandHere = process.platform === 'linux' && !readFileSync('/proc/sys/kernel/core_pattern', 'utf8').startsWith('|');
    it.runIf(coresLandHere || process.env.CI === 'true')('a real core dump of a hardened process holds no secret (control: an unhardened one does)', () => {
      const dir = mkdtempSync(path.join(work, 'core-'));
      const crash = (harden: boolean) => {
        const prog = `const { hardenProcess } = await import(${JSON.stringify(path.join(DIST, 'lib/process/index.js'))}); ${harden ? 'hardenProcess();' : ''} globalThis.k = process.env.SOPS_AGE_KEY.repeat(2); process.abort();`;
        for (const f of readdirSync(dir)) rmSync(path.join(dir, f));
        spawnSync('sh', ['-c', 'ulimit -c unlimited && exec "$@"', 'sh', process.execPath, '--input-type=module', '-e', prog], { cwd: dir, env });
        const core = readdirSync(dir).find((f) => f.startsWith('core'));
        return core === undefined ? undefined : readFileSync(path.join(dir, core)).toString('latin1');
      };
      const control = crash(false);
      expect(control, 'no core file: this machine does not write them where the test can see').toBeDefined();
      expect(control).toContain(identity);
      const hardened = crash(true);
      expect(hardened).toBeDefined();
      expect(hardened).not.toContain(identity);
      expect(existsSync(dir)).toBe(true);
    });
  });
});
