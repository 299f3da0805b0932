/**
 * The operator-side module (nix/maintenance.nix), evaluated by
 * lib.evalModules with the real nixpkgs lib through the scenarios of
 * nix/checks/maintenance.nix (what `nix flake check` runs), and the unit
 * files it makes (as NixOS writes them, nix/checks/nixos-options.nix) checked
 * by the real `systemd-analyze verify`; the host module's units too.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { tempDir } from '../activation/fixtures.js';
import { nixInputs } from '../helpers/nix.js';
import { haveTools } from '../helpers/tools.js';

const REPO = path.resolve(import.meta.dirname, '../..');
const INPUTS = path.join(REPO, 'test/nix/inputs.nix');
const inputs = nixInputs();
const SCENARIOS = [
  'defaults',
  'textfile',
  'audit-only',
  'pinned-forge',
  'disabled',
  'no-age-identity',
  'secret-in-store',
  'bad-paths',
  'home-directory',
  'unpinned-push-host',
  'bad-repository',
  'undeclared-user',
];

interface Scenario {
  failures: string[];
  summary: { units?: Record<string, string>; failedAssertions?: string[] };
}

const nixEval = (expr: string): unknown =>
  JSON.parse(execFileSync('nix-instantiate', ['--eval', '--strict', '--json', '-E', expr], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));

const checks = (file: string, args: string) => `(let i = import ${INPUTS}; in import ${path.join(REPO, 'nix/checks', file)} { ${args} })`;
const maintenance = (attr: string) => nixEval(`${checks('maintenance.nix', 'inherit (i) lib nixosModules;')}.${attr}`);

describe.skipIf(!inputs.ok)(`the maintenance module with nixpkgs lib${inputs.ok ? '' : ` (skipped: ${inputs.reason})`}`, () => {
  let scenarios: Record<string, Scenario>;

  beforeAll(() => {
    scenarios = {};
    for (const name of nixEval(`builtins.attrNames ${checks('maintenance.nix', 'lib = (import ' + INPUTS + ').lib; nixosModules = null;')}.scenarios`) as string[]) {
      scenarios[name] = maintenance(`scenarios.${JSON.stringify(name)}`) as Scenario;
    }
  }, 300_000);

  test('covers the scenarios (control)', () => {
    expect(Object.keys(scenarios).sort()).toEqual([...SCENARIOS].sort());
  });

  test.each(SCENARIOS.map((n) => [n]))('%s', (name) => {
    expect(scenarios[name]!.failures).toEqual([]);
  });

  test('the flake exports it as nixosModules.maintenance', () => {
    expect(nixEval(`builtins.attrNames (import ${INPUTS}).nixosModules`)).toEqual(['default', 'deploy-keys', 'maintenance']);
  });

  test('ExecStart runs scripts/maintenance/scheduled.sh', () => {
    const exec = /^ExecStart=(.*)$/m.exec(scenarios.defaults!.summary.units!['deploy-keys-rotate.service']!)![1]!;
    const script = exec.split(' ').find((w) => w.endsWith('-deploy-keys-scheduled.sh'))!;
    const standIn = nixEval(
      `((import ${path.join(REPO, 'nix/checks/pkgs.nix')} { lib = (import ${INPUTS}).lib; }).writeText "deploy-keys-scheduled.sh" (builtins.readFile ${path.join(REPO, 'scripts/maintenance/scheduled.sh')})).outPath`,
    );
    expect(script).toBe(standIn);
  });
});

/**
 * systemd-analyze in a root of its own: Debian's units (for dependencies
 * such as network-online.target) and, at the store paths the stand-in
 * packages name, an executable for each ExecStart; the units go to
 * /etc/systemd/system.
 */
function analyze(units: Record<string, string>, args: string[]): { code: number | null; messages: string } {
  const t = tempDir('dk-units-');
  try {
    const root = path.join(t.dir, 'root');
    const etc = path.join(root, 'etc/systemd/system');
    mkdirSync(etc, { recursive: true });
    mkdirSync(path.join(root, 'usr/lib/systemd'), { recursive: true });
    cpSync('/usr/lib/systemd/system', path.join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
    for (const [name, text] of Object.entries(units)) {
      writeFileSync(path.join(etc, name), text);
      for (const m of text.matchAll(/^Exec\w+=[-+!@:]*(\/\S+)/gm)) {
        const exe = path.join(root, m[1]!);
        mkdirSync(path.dirname(exe), { recursive: true });
        copyFileSync('/bin/true', exe);
        chmodSync(exe, 0o755);
      }
    }
    const r = spawnSync('systemd-analyze', [...args, `--root=${root}`], { encoding: 'utf8' });
    return { code: r.status, messages: (r.stdout + r.stderr).trim() };
  } finally {
    t.cleanup();
  }
}

/** Any message counts as a failure: systemd warns and goes on for unknown keys and bad values. */
const verifyUnits = (units: Record<string, string>) => analyze(units, ['verify', '--man=no', ...Object.keys(units)]);

describe.skipIf(!(inputs.ok && haveTools('systemd-analyze')))('the units, checked by systemd-analyze verify', () => {
  test.each(['defaults', 'textfile', 'audit-only', 'pinned-forge'].map((n) => [n]))('maintenance: %s', (name) => {
    const units = maintenance(`scenarios.${JSON.stringify(name)}.summary.units`) as Record<string, string>;
    expect(Object.keys(units).length).toBeGreaterThan(0);
    expect(verifyUnits(units)).toEqual({ code: 0, messages: '' });
  });

  test("the host module's clone service", () => {
    for (const name of ['root', 'non-root-user', 'systemd-sysusers']) {
      const units = nixEval(`${checks('module.nix', 'inherit (i) lib nixosModules sopsModule;')}.scenarios.${JSON.stringify(name)}.summary.units`) as Record<string, string>;
      expect(Object.keys(units), name).toContain('deploy-keys-clone.service');
      expect(verifyUnits(units), name).toEqual({ code: 0, messages: '' });
    }
  });

  test("the jobs' sandbox: systemd-analyze security rates both services OK (exposure 3.5 or less)", () => {
    const units = maintenance('scenarios.defaults.summary.units') as Record<string, string>;
    const services = ['deploy-keys-rotate.service', 'deploy-keys-audit.service'];
    const r = analyze(units, ['security', '--offline=true', '--threshold=35', ...services]);
    expect(r.code, r.messages).toBe(0);
    expect(r.messages).toMatch(/Overall exposure level for deploy-keys-rotate\.service: [0-3]\.\d OK/);
    // Without the sandbox the same check fails (control).
    const bare = Object.fromEntries(Object.entries(units).map(([n, text]) => [n, text.replace(/^(Protect|Restrict|Private|NoNew|Capability|Lock|SystemCall|UMask)\w*=.*\n/gm, '')]));
    expect(analyze(bare, ['security', '--offline=true', '--threshold=35', ...services]).code).not.toBe(0);
  });

  test('a broken unit fails the check (control)', () => {
    const units = maintenance('scenarios.defaults.summary.units') as Record<string, string>;
    const broken = { ...units, 'deploy-keys-rotate.timer': units['deploy-keys-rotate.timer']!.replace('OnCalendar=daily', 'OnCalendar=every day') };
    expect(verifyUnits(broken).messages).toMatch(/Failed to parse calendar specification/);
    const unknown = { ...units, 'deploy-keys-audit.service': units['deploy-keys-audit.service']!.replace('UMask=0077', 'UMask=0077\nProtectSecrets=true') };
    expect(verifyUnits(unknown).messages).toMatch(/Unknown key .*ProtectSecrets/);
  });
});
