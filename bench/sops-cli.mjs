// Whole-process `deploy-keys sops decrypt|encrypt` against a minimal Node script
// doing the same work with the same libraries (bench/baseline/sops-minimal.mjs).
// The difference is the CLI's start-up overhead; the target is within 1.3×.
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { encryptText } from '../dist/scripts/lib/sops/index.js';
import { generateDeployKey } from '../dist/scripts/lib/keys/index.js';
import { timeProcess, machine, fmt } from './lib.mjs';

const root = path.resolve(new URL('..', import.meta.url).pathname);
const cli = path.join(root, 'dist/scripts/cli/bin.js');
const baseline = path.join(root, 'bench/baseline/sops-minimal.mjs');
const dir = mkdtempSync(path.join(tmpdir(), 'dk-bench-sops-'));
const identity = await generateX25519Identity();
const recipient = await identityToRecipient(identity);
writeFileSync(path.join(dir, '.sops.yaml'), `creation_rules:\n  - age: ${recipient}\n`);

const keys = ['nix-config', 'nix-secrets'].map((r) => `  ${r}: |\n${generateDeployKey(`bench-${r}-deploy`).privateKey.trimEnd().split('\n').map((l) => `    ${l}`).join('\n')}\n`);
const hostPlain = `deploy-keys:\n${keys.join('')}`;
let big = '';
for (let i = 0; big.length < 1_000_000; i++) big += `key${i}: ${randomBytes(48).toString('base64')}\n`;

const cases = [];
for (const [name, plain] of [['two-key host file', hostPlain], ['1 MB file', big]]) {
  const slug = name.replace(/\W+/g, '-');
  const plainFile = path.join(dir, `${slug}.plain.yaml`);
  const encFile = path.join(dir, `${slug}.yaml`);
  writeFileSync(plainFile, plain);
  writeFileSync(encFile, await encryptText(plain, { filePath: encFile, recipients: [recipient] }));
  cases.push({ name, plainFile, encFile, bytes: Buffer.byteLength(plain) });
}

const env = { ...process.env, SOPS_AGE_KEY: identity, HOME: dir };
const runs = Number(process.env.BENCH_RUNS ?? 15);
const rows = [];
for (const c of cases) {
  for (const op of ['decrypt', 'encrypt']) {
    const file = op === 'decrypt' ? c.encFile : c.plainFile;
    const a = timeProcess(process.execPath, [cli, 'sops', op, file], { env, runs, cwd: dir });
    const b = timeProcess(process.execPath, [baseline, op, file], { env, runs, cwd: dir });
    rows.push({ case: c.name, op, cli: a.median, base: b.median, ratio: a.median / b.median });
  }
}
rmSync(dir, { recursive: true, force: true });

const lines = [
  `Machine: ${machine()}. Median of ${runs} runs after 3 warm-ups, wall clock of the whole process.`,
  '',
  '| file | operation | `deploy-keys sops` | minimal script | ratio |',
  '|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.case} | ${r.op} | ${fmt(r.cli)} | ${fmt(r.base)} | ${r.ratio.toFixed(2)}× |`),
];
console.log(lines.join('\n'));
const worst = Math.max(...rows.map((r) => r.ratio));
console.log(`\nworst ratio ${worst.toFixed(2)}× (target ≤ 1.30×): ${worst <= 1.3 ? 'met' : 'NOT met'}`);
writeFileSync(path.join(root, 'bench/results/sops.md'), `${lines.join('\n')}\n`);
