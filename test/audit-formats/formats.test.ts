/**
 * The audit's machine formats from hand-made reports: the textfile read back
 * by a Prometheus text-format parser (parse-prometheus-text-format, a port of
 * the Prometheus Python client's parser), the SARIF log validated against the
 * SARIF 2.1.0 JSON schema (test/fixtures/sarif) with ajv.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { describe, expect, test } from 'vitest';
import { prometheusTextfile, sarifLog, type AuditReport, type FindingRule } from '../../scripts/lib/audit-formats/index.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const DAY = 86_400_000;
const ago = (days: number) => new Date(NOW.getTime() - days * DAY).toISOString();

const report: AuditReport = {
  now: NOW,
  kinds: ['unknown-key', 'too-old', 'never-used'],
  hosts: 2,
  forgeKeys: 4,
  keys: [
    { host: 'web-01', repo: 'nix-config', slot: 'current', createdAt: ago(100), lastUsed: ago(2), registration: 'registered' },
    { host: 'web-01', repo: 'nix-config', slot: 'next', createdAt: ago(0.5), lastUsed: null, registration: 'pending' },
    { host: 'db-01', repo: 'nix-config', slot: 'current', createdAt: ago(40), lastUsed: null, registration: 'missing' },
  ],
  findings: [
    { kind: 'too-old', host: 'web-01', repo: 'nix-config', keyId: '7', fingerprint: 'SHA256:abc', message: 'nix-config: key 7 is 100 days old' },
    { kind: 'unknown-key', repo: 'nix-config', keyId: '9', fingerprint: 'SHA256:x"y\\z', message: 'nix-config: key 9 "evil\ntitle" is not known' },
  ],
};

type Families = ReturnType<typeof parsePrometheusTextFormat>;
const family = (fs: Families, name: string) => {
  const f = fs.find((x) => x.name === name);
  if (!f) throw new Error(`no metric ${name}`);
  return f;
};
const samples = (fs: Families, name: string): Record<string, string | number>[] => family(fs, name).metrics.map((m) => ({ ...m.labels, value: Number(m.value) }));

// CommonJS packages: their module.exports is the class / the function.
const require = createRequire(import.meta.url);
const Ajv = require('ajv-draft-04') as typeof import('ajv-draft-04').default;
const addFormats = require('ajv-formats') as typeof import('ajv-formats').default;

describe('prometheusTextfile', () => {
  const text = prometheusTextfile(report);
  const parsed = parsePrometheusTextFormat(text);

  test('every family is a gauge with help, named deploy_keys_*, once', () => {
    expect(parsed.map((f) => f.name)).toEqual([
      'deploy_keys_audit_timestamp_seconds',
      'deploy_keys_audit_hosts',
      'deploy_keys_audit_forge_keys',
      'deploy_keys_audit_findings',
      'deploy_keys_host_audit_findings',
      'deploy_keys_key_age_seconds',
      'deploy_keys_key_used',
      'deploy_keys_key_last_use_age_seconds',
      'deploy_keys_key_registration',
    ]);
    for (const f of parsed) {
      expect(f.type, f.name).toBe('GAUGE');
      expect(f.help.length, f.name).toBeGreaterThan(10);
    }
    expect(text.endsWith('\n')).toBe(true);
  });

  test('findings by kind, every kind present (0 included), and by host', () => {
    expect(samples(parsed, 'deploy_keys_audit_findings')).toEqual([
      { kind: 'unknown-key', value: 1 },
      { kind: 'too-old', value: 1 },
      { kind: 'never-used', value: 0 },
    ]);
    expect(samples(parsed, 'deploy_keys_host_audit_findings')).toEqual([{ host: 'web-01', kind: 'too-old', value: 1 }]);
  });

  test('per key: age, use, days since last use, registration state', () => {
    expect(samples(parsed, 'deploy_keys_audit_timestamp_seconds')).toEqual([{ value: NOW.getTime() / 1000 }]);
    expect(samples(parsed, 'deploy_keys_key_age_seconds')).toEqual([
      { host: 'web-01', repo: 'nix-config', slot: 'current', value: 100 * 86400 },
      { host: 'web-01', repo: 'nix-config', slot: 'next', value: 43200 },
      { host: 'db-01', repo: 'nix-config', slot: 'current', value: 40 * 86400 },
    ]);
    expect(samples(parsed, 'deploy_keys_key_used').map((s) => s.value)).toEqual([1, 0, 0]);
    expect(samples(parsed, 'deploy_keys_key_last_use_age_seconds')).toEqual([{ host: 'web-01', repo: 'nix-config', slot: 'current', value: 2 * 86400 }]);
    const states = samples(parsed, 'deploy_keys_key_registration').filter((s) => s.value === 1);
    expect(states.map((s) => `${s.host} ${s.slot} ${s.state}`)).toEqual(['web-01 current registered', 'web-01 next pending', 'db-01 current missing']);
    expect(samples(parsed, 'deploy_keys_key_registration')).toHaveLength(12);
  });

  test('label values are escaped as the format requires', () => {
    const odd = prometheusTextfile({ ...report, kinds: [], findings: [{ kind: 'a"b\\c\nd', host: 'h', message: '' }] });
    expect(samples(parsePrometheusTextFormat(odd), 'deploy_keys_audit_findings')).toEqual([{ kind: 'a"b\\c\nd', value: 1 }]);
    expect(odd).toContain('kind="a\\"b\\\\c\\nd"');
  });
});

describe('sarifLog', () => {
  const rules: FindingRule[] = [
    { kind: 'unknown-key', summary: 'a key no host knows', level: 'error' },
    { kind: 'too-old', summary: 'a key past rotation.max_age_days', level: 'warning' },
  ];
  const log = sarifLog({ toolVersion: '0.1.0', rules, findings: report.findings, locate: (f) => (f.host ? `sops/${f.host}.yaml` : 'deploy-keys.yaml') });
  const schema = JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../fixtures/sarif/sarif-2.1.0-rtm.5.json'), 'utf8')) as object;
  // The schema's language-tag pattern is not valid with the u flag.
  const ajv = new Ajv({ allErrors: true, strict: false, unicodeRegExp: false });
  addFormats(ajv);
  const validate = ajv.compile(schema);

  test('is valid SARIF 2.1.0', () => {
    expect(validate(JSON.parse(JSON.stringify(log))), JSON.stringify(validate.errors)).toBe(true);
  });

  test('the schema check can fail (control)', () => {
    const bad = structuredClone(log) as unknown as { runs: { results: { level: string }[] }[] };
    bad.runs[0]!.results[0]!.level = 'fatal';
    expect(validate(bad)).toBe(false);
  });

  test('one rule per kind, results point at the file and rule, fingerprints ignore the wording', () => {
    const run = log.runs[0]!;
    expect(run.tool.driver.rules.map((r) => [r.id, r.defaultConfiguration.level])).toEqual([
      ['unknown-key', 'error'],
      ['too-old', 'warning'],
    ]);
    expect(run.results.map((r) => [r.ruleId, r.ruleIndex, r.level, r.locations[0]!.physicalLocation.artifactLocation.uri])).toEqual([
      ['too-old', 1, 'warning', 'sops/web-01.yaml'],
      ['unknown-key', 0, 'error', 'deploy-keys.yaml'],
    ]);
    expect(run.results[1]!.message.text).toBe('nix-config: key 9 "evil\ntitle" is not known');
    expect(run.results[0]!.properties).toEqual({ host: 'web-01', repo: 'nix-config', keyId: '7', fingerprint: 'SHA256:abc' });
    const again = sarifLog({ toolVersion: '0.1.0', rules, findings: [{ ...report.findings[0]!, message: 'reworded' }], locate: () => 'x' });
    expect(again.runs[0]!.results[0]!.partialFingerprints).toEqual(run.results[0]!.partialFingerprints);
  });
});
