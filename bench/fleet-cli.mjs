#!/usr/bin/env node
/**
 * Fleet provisioning through the CLI, whole processes, against the GitHub API
 * double (rate limits off, 2 repos, real keys and SOPS files):
 *
 *   - one `vm-fresh` process per host (what a provisioning loop did before
 *     vm-fresh took several hosts), and
 *   - one `vm-fresh h1 h2 …` process for all of them;
 *
 * BENCH_BEFORE_CLI=<another build's dist/scripts/cli/bin.js> also runs that
 * build one process per host (before/after). Each configuration gets its own
 * fleet directory and its own double. Counted per configuration: key listings
 * (GET /repos/{owner}/{repo}/keys), all API requests, fsyncs, state-file and
 * host-file rewrites and private-key imports by format (bench/count-io.mjs,
 * preloaded); timed: the wall clock of the processes, run one after another.
 *
 *   npm run build && npx tsc -p tsconfig.bench.json && node bench/fleet-cli.mjs   # FLEET_CLI_HOSTS=50
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, promises as fs, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { machine } from './lib.mjs';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.env.FLEET_CLI_HOSTS ?? 50);
const cli = path.join(root, 'dist/scripts/cli/bin.js');
const before = process.env.BENCH_BEFORE_CLI;
const preload = pathToFileURL(path.join(root, 'bench/count-io.mjs')).href;

const { startGithubApiDouble } = await import(pathToFileURL(path.join(root, 'dist/test/doubles/github-api.js')).href);
const { generateX25519Identity, identityToRecipient } = await import('age-encryption');
const REPOS = { 'nix-config': 'acme/nix-config', dotfiles: 'acme/dotfiles' };
const LIST = '/repos/{owner}/{repo}/keys';

/** A fleet directory and a double for one configuration; `run` provisions a batch of hosts, `result` sums up. */
async function configuration(label, bin, perHost) {
  const gh = await startGithubApiDouble({ writesPerMinute: 0, writesPerHour: 0, primaryLimit: 10_000_000 });
  for (const full of Object.values(REPOS)) gh.addRepo(full);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dk-fleet-cli-'));
  const identity = await generateX25519Identity();
  await fs.mkdir(path.join(dir, 'sops'), { mode: 0o700 });
  await fs.writeFile(
    path.join(dir, 'deploy-keys.yaml'),
    `secrets_dir: sops\nforge:\n  type: github\n  api_url: ${gh.url}\n  token_env: GH_TOKEN\n  writes_per_minute: 0\n  writes_per_hour: 0\nrepos:\n${Object.entries(REPOS)
      .map(([n, f]) => `  ${n}:\n    url: git@github.com:${f}.git\n`)
      .join('')}`,
  );
  await fs.writeFile(path.join(dir, '.sops.yaml'), `creation_rules:\n  - path_regex: ^sops/.*\\.yaml$\n    age: ${await identityToRecipient(identity)}\n`);
  const counts = path.join(dir, 'counts.jsonl');
  const env = { PATH: process.env.PATH, HOME: dir, USER: 'bench', DEPLOY_KEYS_ACTOR: 'bench', SOPS_AGE_KEY: identity, GH_TOKEN: gh.token, NO_COLOR: '1', DEPLOY_KEYS_CONFIG: path.join(dir, 'deploy-keys.yaml'), BENCH_COUNT_FILE: counts };
  const hosts = Array.from({ length: N }, (_, i) => `host-${String(i).padStart(4, '0')}`);
  const batches = perHost ? hosts.map((h) => [h]) : [hosts];
  let ms = 0;
  return {
    batches: batches.length,
    async run(i) {
      const t0 = performance.now();
      // Asynchronous: the double runs in this process and must keep answering.
      await run(process.execPath, ['--import', preload, bin, 'vm-fresh', ...batches[i], '--yes'], { env, cwd: dir, maxBuffer: 1 << 26 });
      ms += performance.now() - t0;
    },
    async result() {
      const registered = Object.values(REPOS).reduce((n, f) => n + gh.keys(f).length, 0);
      if (registered !== N * Object.keys(REPOS).length) throw new Error(`${label}: ${registered} keys on the double`);
      const sum = { fsyncs: 0, stateWrites: 0, hostFileWrites: 0, derKeyImports: 0, jwkKeyImports: 0 };
      for (const line of readFileSync(counts, 'utf8').trim().split('\n')) for (const [k, v] of Object.entries(JSON.parse(line))) sum[k] += v;
      const out = { label, processes: batches.length, ms, lists: gh.countRequests('GET', LIST), requests: gh.requests.length, ...sum };
      await gh.close();
      rmSync(dir, { recursive: true, force: true });
      return out;
    },
  };
}

// The one-process-per-host configurations run interleaved (host i of each in
// turn), so load on the shared machine hits them alike.
const perHost = [];
if (before) perHost.push(await configuration('before: one process per host', before, true));
perHost.push(await configuration('now: one process per host', cli, true));
for (let i = 0; i < N; i++) for (const c of perHost) await c.run(i);
const all = await configuration(`now: one process, \`vm-fresh\` with ${N} hosts`, cli, false);
await all.run(0);
const rows = [];
for (const c of [...perHost, all]) rows.push(await c.result());

const per = (n) => (n / N).toFixed(1);
const md = `# Fleet provisioning through the CLI

Generated by \`node bench/fleet-cli.mjs\` on ${new Date().toISOString()}.

Machine: ${machine()}, load average ${os.loadavg()[0].toFixed(1)} at the end (shared with other jobs: wall clock is noisy, the counts are not). ${N} new hosts, 2 repos, GitHub API double on 127.0.0.1 with rate limits off, real ed25519 keys and SOPS files (one age recipient). Processes run one after another (the one-per-host runs interleaved, host by host); time is the sum of their whole wall clocks. Counts are summed over the processes (bench/count-io.mjs, preloaded).${before ? ' "before": the build named by BENCH_BEFORE_CLI.' : ''}

| run | processes | wall clock | per host | key listings (GET …/keys) | API requests | fsyncs per host | state-file writes per host | host-file writes per host | private-key imports per host (DER / JWK) |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---|
${rows.map((r) => `| ${r.label} | ${r.processes} | ${(r.ms / 1000).toFixed(1)} s | ${(r.ms / N).toFixed(0)} ms | ${r.lists} | ${r.requests} | ${per(r.fsyncs)} | ${per(r.stateWrites)} | ${per(r.hostFileWrites)} | ${per(r.derKeyImports)} / ${per(r.jwkKeyImports)} |`).join('\n')}
`;
await fs.mkdir(path.join(root, 'bench', 'results'), { recursive: true });
await fs.writeFile(path.join(root, 'bench', 'results', 'fleet-cli.md'), md);
process.stdout.write(md);
