import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { addHostRecipient, addOperatorRule, findConfigFile, hostRecipients, matchRule, parseConfig, removeHostRecipient, SopsConfigError, SopsFormatError, SopsUnsupportedError } from '../../scripts/lib/sops/index.js';
import { tempDir } from './helpers.js';

const A = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
const B = 'age1lggyhqrw2nlhcxprm67z43rta597azn8gknawjehu9d9dl0jq3yqqvfafg';
const C = 'age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw';

describe('.sops.yaml creation rules', () => {
  const cfgPath = '/repo/.sops.yaml';
  const cfg = parseConfig(
    `creation_rules:
  - path_regex: ^sops/web1\\.yaml$
    age: >-
      ${A},
      ${B}
  - path_regex: \\.json$
    age: [${C}]
    encrypted_regex: ^(data|stringData)$
  - path_regex: (?i)^SHOUT/
    key_groups:
      - age: ["${A}, ${B}"]
        merge:
          - age: [${C}]
            pgp: [FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4]
  - age: ${C}
stores:
  yaml:
    indent: 2
`,
    cfgPath,
  );

  it('matches the path relative to the config folder, first match wins, a rule without path_regex matches all', () => {
    expect(matchRule(cfg, '/repo/sops/web1.yaml')?.index).toBe(0);
    expect(matchRule(cfg, '/repo/sops/web10.yaml')?.index).toBe(3);
    expect(matchRule(cfg, '/repo/sops/web1.json')?.index).toBe(1);
    expect(matchRule(cfg, '/repo/shout/x.yaml')?.index).toBe(2);
    expect(matchRule(cfg, '/elsewhere/sops/web1.yaml')?.index).toBe(3); // absolute path, not relative
  });

  it('reads age as folded comma strings or lists, key_groups with merge, rules and stores', () => {
    expect(cfg.creationRules[0]!.keyGroups).toEqual([{ age: [A, B], otherKeys: 0 }]);
    expect(cfg.creationRules[1]!.keyGroups[0]!.age).toEqual([C]);
    expect(cfg.creationRules[1]!.rules).toEqual({ rule: 'encrypted_regex', value: '^(data|stringData)$', macOnlyEncrypted: false });
    expect(cfg.creationRules[2]!.keyGroups).toEqual([{ age: [A, B, C], otherKeys: 1 }]);
    expect(cfg.creationRules[3]!.rules).toBeUndefined();
    expect(cfg.stores.yamlIndent).toBe(2);
  });

  it('rejects conflicting rules and untranslatable regex flags, with the file named', () => {
    expect(() => parseConfig('creation_rules:\n  - encrypted_regex: a\n    unencrypted_suffix: b\n', cfgPath)).toThrow(SopsFormatError);
    expect(() => parseConfig('creation_rules:\n  - path_regex: a(?i:b)\n', cfgPath)).toThrow(/\/repo\/\.sops\.yaml/);
    expect(() => parseConfig('creation_rules: [\n', cfgPath)).toThrow(SopsConfigError);
  });

  it('is found upward from the start dir, or from SOPS_CONFIG', () => {
    const dir = tempDir();
    mkdirSync(path.join(dir, 'a', 'b'), { recursive: true });
    writeFileSync(path.join(dir, '.sops.yaml'), 'creation_rules: []\n');
    expect(findConfigFile(path.join(dir, 'a', 'b'), {})).toBe(path.join(dir, '.sops.yaml'));
    writeFileSync(path.join(dir, 'other.yaml'), 'creation_rules: []\n');
    expect(findConfigFile(path.join(dir, 'a'), { SOPS_CONFIG: path.join(dir, 'other.yaml') })).toBe(path.join(dir, 'other.yaml'));
    expect(() => findConfigFile(dir, { SOPS_CONFIG: path.join(dir, 'missing.yaml') })).toThrow(SopsConfigError);
  });
});

describe('.sops.yaml editing', () => {
  const BASE = `# operator keys
keys:
  - &admin ${A} # laptop
  - &backup ${B}
creation_rules:
  # every host file
  - path_regex: ^sops/[^/]+\\.yaml$
    key_groups:
      - age:
          - *admin
          - *backup
  - path_regex: ^other/
    age: ${C}
`;

  it('adds an anchored key and a host rule before the rule that matched, with its recipients plus the host', () => {
    const out = addHostRecipient(BASE, { host: 'web1', recipient: C });
    expect(out).toContain(`  - &host_web1 ${C}\n`);
    expect(out).toContain('# operator keys');
    expect(out).toContain(`&admin ${A} # laptop`);
    const cfg = parseConfig(out, '/repo/.sops.yaml');
    const rule = matchRule(cfg, '/repo/sops/web1.yaml')!;
    expect(rule.pathRegex).toBe('^sops/web1\\.yaml$');
    expect(rule.keyGroups[0]!.age).toEqual([A, B, C]);
    expect(matchRule(cfg, '/repo/sops/web2.yaml')!.keyGroups[0]!.age).toEqual([A, B]);
    expect(out.indexOf('# every host file')).toBeGreaterThan(out.indexOf('^sops/web1'));
  });

  it('updates the anchor when the host exists, without a second rule', () => {
    const once = addHostRecipient(BASE, { host: 'web1', recipient: C });
    const twice = addHostRecipient(once, { host: 'web1', recipient: 'age1newkeynewkey' });
    expect(twice.match(/path_regex: \^sops\/web1/g)).toHaveLength(1);
    expect(twice).toContain('&host_web1 age1newkeynewkey');
    expect(twice).not.toContain(`&host_web1 ${C}`);
  });

  it('add then remove gives back the original text; remove drops every alias', () => {
    const added = addHostRecipient(addHostRecipient(BASE, { host: 'web1', recipient: C }), { host: 'db', recipient: B });
    expect(removeHostRecipient(removeHostRecipient(added, 'web1'), 'db')).toBe(BASE);
    const manual = BASE.replace('          - *backup\n', '          - *backup\n          - *host_web1\n').replace('  - &backup', `  - &host_web1 ${C}\n  - &backup`);
    expect(removeHostRecipient(manual, 'web1')).toBe(BASE);
  });

  it('removes a revoked recipient that rules spell out literally (comma strings, lists, key groups)', () => {
    const text = [
      'creation_rules:',
      `  - path_regex: ^shared/a\\.yaml$`,
      `    age: ${A}, ${C},${B}`,
      `  - path_regex: ^shared/b\\.yaml$`,
      '    age:',
      `      - ${C}`,
      `      - ${A}`,
      `  - path_regex: ^shared/c\\.yaml$`,
      '    key_groups:',
      '      - age:',
      `          - ${A}`,
      `          - ${C}`,
      '',
    ].join('\n');
    const out = removeHostRecipient(text, 'web1', { recipients: [C] });
    expect(out).not.toContain(C);
    const cfg = parseConfig(out, '/repo/.sops.yaml');
    expect(matchRule(cfg, '/repo/shared/a.yaml')!.keyGroups[0]!.age).toEqual([A, B]);
    expect(matchRule(cfg, '/repo/shared/b.yaml')!.keyGroups[0]!.age).toEqual([A]);
    expect(matchRule(cfg, '/repo/shared/c.yaml')!.keyGroups[0]!.age).toEqual([A]);
    // Without the recipient list only the anchor and the host's own rule go.
    expect(removeHostRecipient(text, 'web1')).toBe(text);
  });

  it('copies comma-string recipients, starts an empty config, and refuses multi-group rules', () => {
    const out = addHostRecipient(BASE, { host: 'x', recipient: A, pathRegex: '^other/x\\.yaml$', filePath: 'other/x.yaml' });
    expect(matchRule(parseConfig(out, '/r/.sops.yaml'), '/r/other/x.yaml')!.keyGroups[0]!.age).toEqual([C, A]);
    const fresh = addHostRecipient('', { host: 'db', recipient: B });
    expect(matchRule(parseConfig(fresh, '/r/.sops.yaml'), '/r/sops/db.yaml')!.keyGroups[0]!.age).toEqual([B]);
    const multi = 'creation_rules:\n  - key_groups:\n      - age: [a]\n      - age: [b]\n';
    expect(() => addHostRecipient(multi, { host: 'h', recipient: A })).toThrow(SopsUnsupportedError);
    expect(() => addHostRecipient(BASE, { host: 'h', recipient: `${A}\nkeys: []` })).toThrow(SopsConfigError);
    expect(() => addHostRecipient(BASE, { host: '../h', recipient: A })).toThrow(SopsConfigError);
  });

  describe('the operator-only rule for host keys', () => {
    const opts = { pathRegex: '^sops/host-keys/[^/]+\\.yaml$', filePath: 'sops/host-keys/web1.yaml', comment: 'host keys: operators only\nnever a host' };
    const withHosts = addHostRecipient(addHostRecipient(BASE, { host: 'web1', recipient: C }), { host: 'db', recipient: 'age1dbdbdbdb' });
    // A catch-all that also lets every host read everything: the hosts must not come along.
    const shared = withHosts.replace('# every host file\n  - path_regex: ^sops/[^/]+\\.yaml$\n    key_groups:\n      - age:\n          - *admin\n          - *backup\n', `# everything\n  - path_regex: ^sops/\n    key_groups:\n      - age:\n          - *admin\n          - *backup\n          - *host_db\n          - ${C}\n`);

    it('copies the matching rule without any host (alias or anchor value written out), before it, with its comment', () => {
      expect(shared).toContain('# everything');
      const out = addOperatorRule(shared, opts);
      const cfg = parseConfig(out, '/repo/.sops.yaml');
      const rule = matchRule(cfg, '/repo/sops/host-keys/web1.yaml')!;
      expect(rule.pathRegex).toBe(opts.pathRegex);
      expect(rule.keyGroups[0]!.age).toEqual([A, B]);
      expect(out).toContain('# host keys: operators only\n  # never a host\n  - path_regex: ^sops/host-keys/');
      // Host files are still matched by their own rules and the catch-all.
      expect(matchRule(cfg, '/repo/sops/web1.yaml')!.keyGroups[0]!.age).toEqual([A, B, C]);
      expect(matchRule(cfg, '/repo/sops/other.yaml')!.keyGroups[0]!.age).toEqual([A, B, 'age1dbdbdbdb', C]);
      expect(out.indexOf('^sops/host-keys/')).toBeLessThan(out.indexOf('path_regex: ^sops/\n'));
      expect(out).toContain('# operator keys');
      expect(out).toContain(`&admin ${A} # laptop`);
    });

    it("no rule matches host key files (the catch-all is for sops/*.yaml only): the host file's rule gives the operators, the rule goes last", () => {
      const out = addOperatorRule(withHosts, { ...opts, operatorsFrom: 'sops/web1.yaml' });
      const cfg = parseConfig(out, '/repo/.sops.yaml');
      expect(matchRule(cfg, '/repo/sops/host-keys/web1.yaml')!.keyGroups[0]!.age).toEqual([A, B]);
      expect(cfg.creationRules.at(-1)!.pathRegex).toBe(opts.pathRegex);
      expect(() => addOperatorRule(withHosts, opts)).toThrow(SopsConfigError);
    });

    it('keeps an existing rule with that path_regex as it is (the operators may have edited it)', () => {
      const once = addOperatorRule(BASE, { ...opts, operatorsFrom: 'sops/web1.yaml' });
      expect(addOperatorRule(once, opts)).toBe(once);
    });

    it('refuses when no operator is left', () => {
      const hostsOnly = `keys:\n  - &host_web1 ${C}\ncreation_rules:\n  - path_regex: ^sops/\n    age: [*host_web1]\n`;
      expect(() => addOperatorRule(hostsOnly, opts)).toThrow(/no rule names an operator's recipient for sops\/host-keys\/web1\.yaml/);
      expect(() => addOperatorRule('', opts)).toThrow(SopsConfigError);
    });

    it('hostRecipients lists the host anchors only', () => {
      expect([...hostRecipients(withHosts)]).toEqual([
        ['web1', C],
        ['db', 'age1dbdbdbdb'],
      ]);
    });
  });
});
