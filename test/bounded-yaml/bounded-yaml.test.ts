/**
 * The bounded YAML reader shared by every reader (issue 10, findings 0 and 1):
 * alias bombs, nesting bombs and oversized input fail with one line before
 * anything is expanded; a .sops.yaml with one alias per host works at 10,000 hosts.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { INPUT_LIMITS, InputLimitError, readYamlDocument, readYamlDocuments, toJS } from '../../scripts/lib/bounded-yaml/index.js';
import { loadConfig } from '../../scripts/lib/config/load.js';
import { SopsHostSecrets } from '../../scripts/lib/lifecycle/effects/sops-store.js';
import { addHostRecipient, decryptText, encryptText, matchRule, parseConfig, publicInfo } from '../../scripts/lib/sops/index.js';

/** ~330 bytes that expand to 10^7 nodes when aliases are copied out. */
export const ALIAS_BOMB = [
  'l0: &l0 [x,x,x,x,x,x,x,x,x,x]',
  ...Array.from({ length: 6 }, (_, i) => `l${i + 1}: &l${i + 1} [${Array(10).fill(`*l${i}`).join(',')}]`),
  '',
].join('\n');

const limit = (e: unknown): string => {
  expect(e).toBeInstanceOf(InputLimitError);
  const line = (e as InputLimitError).oneLine();
  expect(line.split('\n')).toHaveLength(1);
  return line;
};
const caught = async (f: () => unknown): Promise<unknown> => {
  try {
    await f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a failure');
};

describe('bounded YAML reading', () => {
  it('the bomb is small', () => {
    expect(ALIAS_BOMB.length).toBeLessThan(400);
  });

  it('an alias bomb fails before any expansion, in every reader', async () => {
    expect(limit(await caught(() => readYamlDocuments(ALIAS_BOMB, 'bomb.yaml')))).toMatch(/^bomb\.yaml: YAML aliases expand the document past 100,000 extra nodes/);
    // SOPS store (encrypt and decrypt), .sops.yaml, deploy-keys.yaml, the lifecycle's metadata peek
    expect(limit(await caught(() => encryptText(ALIAS_BOMB, { filePath: 'b.yaml', recipients: ['age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p'] })))).toMatch(/b\.yaml/);
    expect(limit(await caught(() => decryptText(`${ALIAS_BOMB}sops: {}\n`, 'h.yaml', { identities: [] })))).toMatch(/h\.yaml/);
    expect(limit(await caught(() => parseConfig(`keys:\n${ALIAS_BOMB.replace(/^/gm, '  ')}`, '.sops.yaml')))).toMatch(/\.sops\.yaml/);
    const dir = mkdtempSync(path.join(tmpdir(), 'dk-bomb-'));
    writeFileSync(path.join(dir, 'deploy-keys.yaml'), `repos:\n${ALIAS_BOMB.replace(/^/gm, '  ')}`);
    expect(limit(await caught(() => loadConfig(path.join(dir, 'deploy-keys.yaml'))))).toMatch(/deploy-keys\.yaml/);
    expect(limit(await caught(() => publicInfo(`${ALIAS_BOMB}sops:\n  age: []\n`, 'web-01.yaml')))).toMatch(/web-01\.yaml: YAML aliases expand/);
  });

  it('whole process: one line, exit 1, nothing written (sops encrypt --in-place, decrypt); vm-fresh\'s host-file read too', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dk-bomb-'));
    const bin = new URL('../../dist/scripts/cli/bin.js', import.meta.url).pathname;
    writeFileSync(path.join(dir, '.sops.yaml'), 'creation_rules:\n  - age: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n');
    writeFileSync(path.join(dir, 'bomb.yaml'), ALIAS_BOMB);
    for (const args of [['encrypt', '--in-place', 'bomb.yaml'], ['decrypt', 'bomb.yaml']]) {
      const r = spawnSync(process.execPath, [bin, 'sops', ...args], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: dir } });
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/bomb\.yaml: YAML aliases expand the document past/)]);
      expect(readFileSync(path.join(dir, 'bomb.yaml'), 'utf8')).toBe(ALIAS_BOMB);
    }
    writeFileSync(path.join(dir, 'deploy-keys.yaml'), 'secrets_dir: sops\nforge:\n  type: manual\nrepos:\n  nix-config:\n    url: git@github.com:acme/nix-config.git\n');
    mkdirSync(path.join(dir, 'sops'));
    writeFileSync(path.join(dir, 'sops', 'web-01.yaml'), `${ALIAS_BOMB}sops: {}\n`);
    const store = new SopsHostSecrets(loadConfig(path.join(dir, 'deploy-keys.yaml')), { HOME: dir });
    expect(limit(await caught(() => store.load('web-01')))).toMatch(/web-01\.yaml: YAML aliases expand/);
  });

  it('aliases that expand moderately are fine, and toJS shares their value', () => {
    const doc = readYamlDocument('base: &b {user: u, groups: [a, b]}\nweb: *b\ndb: *b\n', 'ok.yaml');
    const js = toJS(doc.contents) as Record<string, unknown>;
    expect(js.web).toEqual({ user: 'u', groups: ['a', 'b'] });
    expect(js.db).toBe(js.web);
  });

  it('a recursive alias is refused', async () => {
    expect(limit(await caught(() => readYamlDocuments('a: &x [1, *x]\n', 'r.yaml')))).toMatch(/refers to a node that contains it/);
  });

  it('nesting deeper than the limit fails early, flow or block, or through aliases', async () => {
    const n = INPUT_LIMITS.maxDepth + 1;
    expect(limit(await caught(() => readYamlDocuments(`${'['.repeat(100_000)}${']'.repeat(100_000)}\n`, 'f.yaml')))).toMatch(/^f\.yaml:1: nested deeper than 100 levels/);
    expect(limit(await caught(() => readYamlDocuments(`${'- '.repeat(100_000)}x\n`, 'b.yaml')))).toMatch(/nested deeper/);
    const chain = ['a0: &a0 [x]', ...Array.from({ length: n }, (_, i) => `a${i + 1}: &a${i + 1} [*a${i}]`)].join('\n');
    expect(limit(await caught(() => readYamlDocuments(chain, 'c.yaml')))).toMatch(/nested deeper/);
    expect(() => readYamlDocuments(`${'['.repeat(n - 1)}${']'.repeat(n - 1)}\n`, 'ok.yaml')).not.toThrow();
  });

  it('input over 16 MiB is refused', async () => {
    const big = `a: "${'x'.repeat(INPUT_LIMITS.maxBytes)}"\n`;
    expect(limit(await caught(() => readYamlDocuments(big, 'big.yaml')))).toMatch(/^big\.yaml: the file is 16\.0 MiB, over the 16 MiB limit/);
  });

  it('duplicate keys are still found (in one pass), with their line', () => {
    const doc = readYamlDocument('a: 1\nb:\n  c: 1\n  c: 2\n', 'd.yaml');
    expect(doc.errors.map((e) => [e.code, e.linePos?.[0]?.line])).toEqual([['DUPLICATE_KEY', 4]]);
    const many = Array.from({ length: 20_000 }, (_, i) => `k${i}: v`).join('\n');
    expect(readYamlDocument(many, 'm.yaml').errors).toEqual([]);
  });
});

describe('a .sops.yaml with one alias per host (finding 0)', () => {
  // The layout addHostRecipient writes, generated for 10,000 hosts at once.
  const HOSTS = 10_000;
  const operator = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
  const hostKey = (i: number): string => `age1${String(i).padStart(58, 'q').replace(/[^q]/g, (d) => 'acdefghjkl'[Number(d)]!)}`;
  const text = [
    'keys:',
    `  - &operator ${operator}`,
    ...Array.from({ length: HOSTS }, (_, i) => `  - &host_h${i} ${hostKey(i)}`),
    'creation_rules:',
    ...Array.from({ length: HOSTS }, (_, i) => `  - path_regex: ^sops/h${i}\\.yaml$\n    key_groups:\n      - age:\n          - *operator\n          - *host_h${i}`),
    '  - path_regex: ^sops/.*\\.yaml$',
    '    key_groups:',
    '      - age:',
    '          - *operator',
    '',
  ].join('\n');

  it('is read whole: every host rule resolves its aliases', () => {
    const config = parseConfig(text, '/x/.sops.yaml');
    expect(config.creationRules).toHaveLength(HOSTS + 1);
    expect(matchRule(config, '/x/sops/h9999.yaml')?.keyGroups[0]?.age).toEqual([operator, hostKey(9999)]);
    expect(matchRule(config, '/x/sops/new.yaml')?.keyGroups[0]?.age).toEqual([operator]);
  });

  it('takes host 10,001', () => {
    const after = addHostRecipient(text, { host: 'h10000', recipient: hostKey(10_000) });
    expect(matchRule(parseConfig(after, '/x/.sops.yaml'), '/x/sops/h10000.yaml')?.keyGroups[0]?.age).toEqual([operator, hostKey(10_000)]);
  });
});
