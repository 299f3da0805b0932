/**
 * The audit as a SARIF 2.1.0 log (OASIS Static Analysis Results Interchange
 * Format), for CI annotations: GitHub code scanning and other SARIF viewers.
 * One rule per finding kind; each result points at the file it concerns
 * (the host file, else deploy-keys.yaml) relative to the config's directory,
 * and carries a fingerprint that stays the same from run to run, so a viewer
 * tracks a finding instead of opening a new one every day.
 */
import { createHash } from 'node:crypto';
import type { FindingRow, FindingRule } from './types.js';

export interface SarifInput {
  toolVersion: string;
  rules: readonly FindingRule[];
  findings: readonly FindingRow[];
  /** The file a finding concerns, as a relative URI (forward slashes) from the config's directory. */
  locate: (finding: FindingRow) => string;
}

/** SARIF's JSON, typed as far as this writer uses it. */
export interface SarifLog {
  $schema: string;
  version: '2.1.0';
  runs: {
    tool: { driver: { name: string; version: string; rules: { id: string; shortDescription: { text: string }; defaultConfiguration: { level: string } }[] } };
    originalUriBaseIds: Record<string, { description: { text: string } }>;
    results: {
      ruleId: string;
      ruleIndex: number;
      level: string;
      message: { text: string };
      locations: { physicalLocation: { artifactLocation: { uri: string; uriBaseId: string } } }[];
      partialFingerprints: Record<string, string>;
      properties: Record<string, string>;
    }[];
  }[];
}

// The conventional base of source-relative URIs (GitHub resolves them against its checkout).
const BASE = '%SRCROOT%';

export function sarifLog(input: SarifInput): SarifLog {
  const index = new Map(input.rules.map((r, i) => [r.kind, i]));
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'deploy-keys audit',
            version: input.toolVersion,
            rules: input.rules.map((r) => ({ id: r.kind, shortDescription: { text: r.summary }, defaultConfiguration: { level: r.level } })),
          },
        },
        originalUriBaseIds: { [BASE]: { description: { text: 'The directory of deploy-keys.yaml' } } },
        results: input.findings.map((f) => {
          const ruleIndex = index.get(f.kind);
          if (ruleIndex === undefined) throw new Error(`internal error: finding kind ${f.kind} has no rule`);
          const where = { host: f.host, repo: f.repo, keyId: f.keyId, fingerprint: f.fingerprint };
          const properties = Object.fromEntries(Object.entries(where).filter((e): e is [string, string] => e[1] !== undefined));
          return {
            ruleId: f.kind,
            ruleIndex,
            level: input.rules[ruleIndex]?.level ?? 'warning',
            message: { text: f.message },
            locations: [{ physicalLocation: { artifactLocation: { uri: input.locate(f), uriBaseId: BASE } } }],
            // What the finding is about, not its wording (which names dates and counts that change).
            partialFingerprints: { 'deployKeysFinding/v1': createHash('sha256').update(JSON.stringify([f.kind, f.host, f.repo, f.fingerprint ?? f.keyId])).digest('hex') },
            properties,
          };
        }),
      },
    ],
  };
}
