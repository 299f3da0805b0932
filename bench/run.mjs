// Runs every benchmark (after `tsc -p tsconfig.bench.json`) and writes
// BENCHMARKS.md from their result files. `npm run bench`; one section can be
// re-run alone with `node bench/run.mjs sops` (names below).
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine } from './lib.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BENCHES = [
  { name: 'sops', title: 'SOPS CLI: `deploy-keys sops decrypt|encrypt` vs an independent floor', target: 'within 1.3× of the floor (yaml.parse + node:crypto age X25519 + AES-GCM + MAC, none of the project\'s code)', script: 'bench/sops-cli.mjs', result: 'sops.md' },
  { name: 'activation', title: 'Activation script when nothing changes', target: 'median ≤ 50 ms', script: 'dist/bench/activation-noop.js', result: 'activation.md' },
  { name: 'forge', title: 'Forge registration: 1,000 hosts × 2 repos against the GitHub double', target: '≤ 80 writes/min and ≥ 95 % of that rate with limits on; per-key overhead with limits off', script: 'dist/bench/forge-register.js', result: 'forge.md' },
  { name: 'fleet', title: 'Fleet: vm-fresh and status for 1,000 hosts (limits off)', target: '`status --json` for 1,000 hosts in under 5 s', script: 'bench/fleet-bench.mjs', result: 'fleet.md' },
  { name: 'fleet-cli', title: 'Fleet provisioning through the CLI: one process per host vs one `vm-fresh` for all', target: 'one key listing per repo per run, whatever the number of hosts; durable writes per host counted', script: 'bench/fleet-cli.mjs', result: 'fleet-cli.md' },
];

const only = process.argv.slice(2);
for (const b of BENCHES) {
  if (only.length && !only.includes(b.name)) continue;
  console.log(`\n== ${b.name}: ${b.title}`);
  const r = spawnSync(process.execPath, [path.join(root, b.script)], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`bench ${b.name} failed (exit ${r.status})`);
    process.exitCode = 1;
  }
}

const sections = BENCHES.map((b) => {
  let body;
  try {
    // Nest the result file's own headings under this section's.
    body = readFileSync(path.join(root, 'bench/results', b.result), 'utf8').trim().replace(/^(#{1,4}) /gm, '$1## ');
  } catch {
    body = '_not run yet: `npm run bench`_';
  }
  return `## ${b.title}\n\nTarget: ${b.target}. Source: \`${b.script.replace(/^dist\/(.*)\.js$/, '$1.ts')}\`.\n\n${body}\n`;
});
writeFileSync(
  path.join(root, 'BENCHMARKS.md'),
  `# Benchmarks\n\nWhole-process figures, measured with \`npm run bench\` (which rebuilds and runs \`bench/run.mjs\`).\nLast written on: ${machine()}.\nEach section notes its own machine line; figures from a 2-core shared VM are noisy, so medians are given.\n\n${sections.join('\n')}`,
);
console.log('\nwrote BENCHMARKS.md');
