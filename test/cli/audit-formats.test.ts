/**
 * `deploy-keys audit --format prometheus|sarif|json [--output FILE]` through
 * the CLI, against the GitHub API double: the textfile read back by a
 * Prometheus text-format parser, the SARIF validated against the SARIF 2.1.0
 * schema, the file replaced atomically and left alone when the audit fails.
 */
import { promises as fs, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FINDING_RULES } from '../../scripts/lib/lifecycle/index.js';
import { startGithubApiDouble, type GithubApiDouble } from '../doubles/github-api.js';
import { Fleet } from '../lifecycle/world.js';

const require = createRequire(import.meta.url);
const Ajv = require('ajv-draft-04') as typeof import('ajv-draft-04').default;
const addFormats = require('ajv-formats') as typeof import('ajv-formats').default;

let gh: GithubApiDouble;
let fleet: Fleet;
let textfile: string;

type Families = ReturnType<typeof parsePrometheusTextFormat>;
const samples = (fs: Families, name: string): Record<string, string | number>[] =>
  (fs.find((f) => f.name === name)?.metrics ?? []).map((m) => ({ ...m.labels, value: Number(m.value) }));

beforeAll(async () => {
  gh = await startGithubApiDouble({ writesPerMinute: 0, writesPerHour: 0 });
  gh.addRepo('acme/nix-config');
  gh.addRepo('acme/dotfiles');
  fleet = await Fleet.create(gh);
  const r = await fleet.cli(['vm-fresh', 'web-01', '--yes']);
  expect(r.code, r.stderr).toBe(0);
  textfile = path.join(fleet.dir, 'textfile', 'deploy-keys.prom');
  await fs.mkdir(path.dirname(textfile));
});

afterAll(async () => {
  await gh.close();
  fleet.cleanup();
});

describe('audit --format prometheus --output FILE', () => {
  test('a clean fleet: every kind at 0, each key with its age, use and registration; the text report on stdout', async () => {
    const r = await fleet.cli(['audit', '--format', 'prometheus', '--output', textfile]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('audit: ok (1 hosts, 2 forge keys)\n');
    expect(statSync(textfile).mode & 0o777).toBe(0o644);
    const parsed = parsePrometheusTextFormat(readFileSync(textfile, 'utf8'));
    expect(samples(parsed, 'deploy_keys_audit_findings')).toEqual(FINDING_RULES.map((rule) => ({ kind: rule.kind, value: 0 })));
    expect(samples(parsed, 'deploy_keys_audit_hosts')).toEqual([{ value: 1 }]);
    expect(samples(parsed, 'deploy_keys_key_used')).toEqual([
      { host: 'web-01', repo: 'nix-config', slot: 'current', value: 0 },
      { host: 'web-01', repo: 'dotfiles', slot: 'current', value: 0 },
    ]);
    expect(samples(parsed, 'deploy_keys_key_age_seconds').every((s) => typeof s.value === 'number' && s.value >= 0 && s.value < 600)).toBe(true);
    expect(samples(parsed, 'deploy_keys_key_registration').filter((s) => s.value === 1).map((s) => s.state)).toEqual(['registered', 'registered']);
    expect(samples(parsed, 'deploy_keys_key_last_use_age_seconds')).toEqual([]);
  });

  test('a used key and findings by kind and host; exit 1, the file written all the same', async () => {
    const [used] = gh.keys('acme/nix-config');
    gh.touch('acme/nix-config', used!.id, new Date(Date.now() - 3_600_000));
    gh.seedKey('acme/dotfiles', { key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl intruder', title: 'intruder' });
    const r = await fleet.cli(['audit', '--format', 'prometheus', '--output', textfile]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^unknown-key: dotfiles: key \d+ "intruder"/);
    const parsed = parsePrometheusTextFormat(readFileSync(textfile, 'utf8'));
    expect(samples(parsed, 'deploy_keys_audit_findings').filter((s) => s.value !== 0)).toEqual([{ kind: 'unknown-key', value: 1 }]);
    expect(samples(parsed, 'deploy_keys_key_used').map((s) => s.value)).toEqual([1, 0]);
    const [age] = samples(parsed, 'deploy_keys_key_last_use_age_seconds');
    expect(age).toMatchObject({ host: 'web-01', repo: 'nix-config', slot: 'current' });
    expect(Math.abs(Number(age!.value) - 3600)).toBeLessThan(600);
  });

  test('a failed audit leaves the last file as it was', async () => {
    const before = readFileSync(textfile, 'utf8');
    gh.replyNext(1, 401, 'Bad credentials');
    const r = await fleet.cli(['audit', '--format', 'prometheus', '--output', textfile]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/401|credentials|token/i);
    expect(readFileSync(textfile, 'utf8')).toBe(before);
  });
});

describe('audit --format sarif', () => {
  test('valid SARIF 2.1.0; results at the host file or the config, relative to the config', async () => {
    const state = path.join(fleet.dir, 'sops/deploy-keys-state/web-01.json');
    const st = JSON.parse(readFileSync(state, 'utf8')) as { repos: Record<string, { current: { createdAt: string } }> };
    st.repos['nix-config']!.current.createdAt = new Date(Date.now() - 100 * 86_400_000).toISOString();
    await fs.writeFile(state, JSON.stringify(st));
    const r = await fleet.cli(['audit', '--format', 'sarif']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const log = JSON.parse(r.stdout) as { runs: { tool: { driver: { rules: { id: string }[] } }; results: { ruleId: string; level: string; locations: { physicalLocation: { artifactLocation: { uri: string } } }[] }[] }[] };
    const ajv = new Ajv({ allErrors: true, strict: false, unicodeRegExp: false });
    addFormats(ajv);
    const validate = ajv.compile(JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../fixtures/sarif/sarif-2.1.0-rtm.5.json'), 'utf8')) as object);
    expect(validate(log), JSON.stringify(validate.errors)).toBe(true);
    const run = log.runs[0]!;
    expect(run.tool.driver.rules.map((x) => x.id)).toEqual(FINDING_RULES.map((x) => x.kind));
    expect(run.results.map((x) => [x.ruleId, x.level, x.locations[0]!.physicalLocation.artifactLocation.uri]).sort()).toEqual([
      ['too-old', 'warning', 'sops/web-01.yaml'],
      ['unknown-key', 'error', 'deploy-keys.yaml'],
    ]);
  });
});

describe('usage', () => {
  test.each([
    [['--format', 'xml'], /--format "xml" is not one of text, json, prometheus, sarif/],
    [['--json', '--format', 'sarif'], /--json and --format sarif exclude each other/],
    [['--output', 'x.prom'], /--output needs a FILE and --format json, prometheus or sarif/],
  ])('%j exits 2', async (args, message) => {
    const r = await fleet.cli(['audit', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});
