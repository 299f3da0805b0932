/**
 * The flake, evaluated by the real `nix` (flakes) with a stand-in nixpkgs
 * (test/nix/stub-nixpkgs: nixpkgs' real lib, packages built from the host's
 * tools) and sops-nix at flake.lock's revision: `nix flake check --no-build`
 * passes (every output evaluates, the module checks hold, flake.lock matches
 * the inputs), and the package's npm dependencies are pinned for this very
 * package-lock.json.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { tempDir } from '../activation/fixtures.js';
import { nixInputs } from '../helpers/nix.js';
import { haveTools } from '../helpers/tools.js';

const REPO = path.resolve(import.meta.dirname, '../..');
const FLAKES = ['--extra-experimental-features', 'nix-command flakes'];
const NPM_DEPS = JSON.parse(readFileSync(path.join(REPO, 'nix/npm-deps.json'), 'utf8')) as { fingerprint: string; hash: string };

describe.runIf(haveTools('nix-instantiate'))('nix/npm-deps.json', () => {
  test('is pinned for the tarballs package-lock.json lists (else: node nix/fetch-npm-tarballs.mjs --update)', () => {
    const lock = path.join(REPO, 'package-lock.json');
    const evalTarballs = (attr: string) =>
      JSON.parse(
        execFileSync('nix-instantiate', ['--store', 'dummy://', '--eval', '--strict', '--json', '-E', `(import ${REPO}/nix/npm-tarballs.nix ${lock}).${attr}`], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        }),
      ) as unknown;
    expect(evalTarballs('fingerprint'), 'package-lock.json changed: run `node nix/fetch-npm-tarballs.mjs --update`').toBe(NPM_DEPS.fingerprint);
    const tarballs = evalTarballs('tarballs') as { spec: string; integrity: string }[];
    // Production and build dependencies, not the optional platform binaries.
    expect(tarballs.map((t) => t.spec)).toEqual(expect.arrayContaining(['yaml@' + (JSON.parse(readFileSync(lock, 'utf8')) as { packages: Record<string, { version: string }> }).packages['node_modules/yaml']!.version]));
    expect(tarballs.some((t) => t.spec.startsWith('rust-just-linux-x64@') || t.spec.startsWith('fsevents@'))).toBe(false);
    expect(tarballs.every((t) => /^sha(512|1)-/.test(t.integrity))).toBe(true);
  });
});

const inputs = nixInputs();

describe.skipIf(!(inputs.ok && haveTools('nix')))(`the flake with a stand-in nixpkgs${inputs.ok ? '' : ` (skipped: ${inputs.reason})`}`, () => {
  const t = tempDir('dk-flake-');
  afterAll(() => t.cleanup());
  const src = path.join(t.dir, 'src');
  const stub = path.join(t.dir, 'nixpkgs');

  const nix = (...args: string[]) =>
    spawnSync('nix', [...FLAKES, ...args, '--override-input', 'nixpkgs', `path:${stub}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const nixEval = (attr: string): unknown => {
    const r = nix('eval', '--json', `path:${src}#${attr}`);
    if (r.status !== 0) throw new Error(`nix eval ${attr}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };

  beforeAll(() => {
    // The files a clone has (tracked, and new ones not ignored), not node_modules.
    const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO, encoding: 'utf8' }).split('\0').filter(Boolean);
    for (const f of files) {
      mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
      cpSync(path.join(REPO, f), path.join(src, f));
    }
    cpSync(path.join(REPO, 'test/nix/stub-nixpkgs'), stub, { recursive: true });
    const pins = execFileSync('nix-instantiate', ['--eval', '--strict', '--json', '-E', `(import ${REPO}/test/nix/inputs.nix).pins.nixpkgs-lib`], { encoding: 'utf8' });
    writeFileSync(path.join(stub, 'pins.json'), pins);
  });

  test('`nix flake check --no-build` passes, with flake.lock as it is', () => {
    const r = nix('flake', 'check', '--no-build', '--no-update-lock-file', `path:${src}`);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('evaluating flake');
  }, 300_000);

  test('outputs: module by path, package with the pinned npm dependencies and the current Node LTS, app, module check', () => {
    const modules = nixEval('nixosModules') as Record<string, unknown>;
    expect(modules).toEqual({
      default: { imports: [expect.stringMatching(/^\/nix\/store\/[a-z0-9]{32}-module\.nix$/)] },
      'deploy-keys': modules.default,
      maintenance: { imports: [expect.stringMatching(/^\/nix\/store\/[a-z0-9]{32}-maintenance\.nix$/)] },
    });
    expect(nixEval('packages.x86_64-linux.default.npmDeps.outputHash')).toBe(NPM_DEPS.hash);
    expect(nixEval('packages.x86_64-linux.default.npmDeps.outputHashMode')).toBe('recursive');
    expect(nixEval('packages.x86_64-linux.default.name')).toMatch(/^nix-deploy-keys-\d+\.\d+\.\d+/);
    expect(nixEval('apps.x86_64-linux.default.program')).toMatch(/^\/nix\/store\/[a-z0-9]{32}-nix-deploy-keys-[^/]+\/bin\/deploy-keys$/);
    expect(nixEval('checks.x86_64-linux.module.name')).toBe('deploy-keys-module-checks');
    expect(nixEval('checks.x86_64-linux.maintenance.name')).toBe('deploy-keys-maintenance-checks');
    // The stand-in has no other Node than nodejs_24, named so.
    expect(String(nixEval('packages.x86_64-linux.default.nativeBuildInputs'))).toMatch(/-nodejs-24\b/);
  });
});
