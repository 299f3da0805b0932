/**
 * `status --json` and `audit --json` against their published JSON Schemas
 * (schemas/*.schema.json, draft 2020-12), validated with ajv: real outputs of
 * the CLI against the GitHub double, with keys in every state the schema
 * describes (registered, missing, stored, a repo the host no longer gets, a
 * rotation in progress, findings). The schemas forbid undocumented fields, so
 * an output that grows a field fails here until the schema documents it.
 */
import { execFileSync } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { generateDeployKey } from '../../scripts/lib/keys/index.js';
import { FINDING_RULES } from '../../scripts/lib/lifecycle/index.js';
import { fleetPerTest, REPOS, type Fleet } from '../lifecycle/world.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const schema = (name: string) => JSON.parse(readFileSync(path.join(ROOT, 'schemas', `${name}.schema.json`), 'utf8')) as { $id: string; properties: Record<string, { const?: unknown }>; $defs: Record<string, { enum?: string[] }> };

// CommonJS packages: their module.exports is the class / the function.
const require = createRequire(import.meta.url);
const Ajv2020 = require('ajv/dist/2020') as typeof import('ajv/dist/2020.js').default;
const addFormats = require('ajv-formats') as typeof import('ajv-formats').default;
const ajv = new Ajv2020({ allErrors: true, strict: true });
addFormats(ajv);
const validators = { status: ajv.compile(schema('status')), audit: ajv.compile(schema('audit')) };

function expectValid(name: keyof typeof validators, out: unknown) {
  const ok = validators[name](out);
  expect(validators[name].errors ?? [], `${name} output against schemas/${name}.schema.json`).toEqual([]);
  expect(ok).toBe(true);
}

let fleet: Fleet;
fleetPerTest((f) => (fleet = f));

async function json(args: string[]): Promise<Record<string, unknown>> {
  const r = await fleet.cli(args);
  expect(r.stderr).not.toMatch(/error/i);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('status --json and audit --json match their schemas', () => {
  it('a clean fleet', async () => {
    expect((await fleet.cli(['vm-fresh', 'web-01', '--yes'])).code).toBe(0);
    const st = await json(['status', '--json']);
    expect(st).toMatchObject({ $schema: 'urn:nix-deploy-keys:schema:status:1', schema_version: 1 });
    expectValid('status', st);
    const au = await json(['audit', '--json']);
    expect(au).toMatchObject({ $schema: 'urn:nix-deploy-keys:schema:audit:1', schema_version: 1, ok: true, findings: [] });
    expectValid('audit', au);
  });

  it('keys in every state, and findings', async () => {
    for (const h of ['web-01', 'web-02']) expect((await fleet.cli(['vm-fresh', h, '--yes'])).code).toBe(0);
    expect((await fleet.cli(['rotate', 'web-02', '--older-than', '0', '--yes'])).code).toBe(0);
    // A key deleted on the forge, a key nobody knows, a repo taken from web-01.
    const [gone] = fleet.forgeKeys('web-02').filter((k) => k.repo === 'nix-config');
    fleet.gh.deleteKey(REPOS['nix-config'], gone!.id);
    fleet.gh.seedKey(REPOS.dotfiles, { key: generateDeployKey('stranger').publicKey, title: 'stranger' });
    const config = await fs.readFile(fleet.configFile, 'utf8');
    await fs.writeFile(fleet.configFile, config.replace('acme/dotfiles.git\n', 'acme/dotfiles.git\n    hosts: [web-02]\n'));

    const st = await json(['status', '--json']);
    expectValid('status', st);
    const rows = (st.hosts as { rows: { registration: string; assigned: boolean; slot: string }[] }[]).flatMap((h) => h.rows);
    expect(new Set(rows.map((r) => r.registration))).toEqual(new Set(['registered', 'missing']));
    expect(rows.some((r) => !r.assigned)).toBe(true);
    expect(rows.some((r) => r.slot !== 'current')).toBe(true);
    const named = await json(['status', '--json', 'web-01', 'db-09']);
    expectValid('status', named);
    expect(named.missing).toEqual(['db-09']);

    const au = await json(['audit', '--json']);
    expectValid('audit', au);
    expect((au.findings as { kind: string }[]).map((f) => f.kind)).toEqual(expect.arrayContaining(['unknown-key', 'unassigned-key']));
  });

  it('an undocumented field fails validation (the schemas are closed)', async () => {
    expect((await fleet.cli(['vm-fresh', 'web-01', '--yes'])).code).toBe(0);
    const st = await json(['status', '--json']);
    const hosts = st.hosts as { rows: Record<string, unknown>[] }[];
    hosts[0]!.rows[0]!.surprise = 1;
    expect(validators.status(st)).toBe(false);
    const au = await json(['audit', '--json']);
    expect(validators.audit({ ...au, schema_version: 2 })).toBe(false);
    expect(validators.audit({ ...au, findings: [{ kind: 'no-such-kind', message: 'x' }] })).toBe(false);
  });
});

describe('the schemas', () => {
  it("audit's kinds are exactly the finding kinds (audit --help)", () => {
    expect(schema('audit').$defs.kind?.enum).toEqual(FINDING_RULES.map((r) => r.kind));
  });

  it('ship in the package (package.json files and exports)', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { files: string[]; exports: Record<string, string> };
    expect(pkg.files).toContain('schemas/');
    expect(pkg.exports['./schemas/*.json']).toBe('./schemas/*.json');
    const packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts', '--offline'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as { files: { path: string }[] }[];
    const files = packed[0]!.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(['schemas/status.schema.json', 'schemas/audit.schema.json', 'schemas/README.md']));
  });
});
