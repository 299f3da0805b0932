#!/usr/bin/env node
/**
 * Fleet benchmark: N hosts (default 1,000) against the GitHub API double with
 * rate limits off, real SOPS host files, real ed25519 keys.
 *
 *   npm run build && node bench/fleet-bench.mjs          # FLEET_HOSTS=1000
 *
 * 1. vm-fresh for every host through the library (dist/), one run sharing the
 *    forge listing cache — what a provisioning script over a fleet does; ms/host.
 * 2. vm-fresh for a few hosts as separate CLI processes (per-invocation cost).
 * 3. `deploy-keys status` and `status --json` over all hosts as one process
 *    each (target: under 5 s for 1,000 hosts), ms/host.
 * Results go to bench/results/fleet.md with machine info.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, promises as fs, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PassThrough } from 'node:stream';
import { FLEET_REPOS, fleetConfigYaml } from './lib.mjs';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.env.FLEET_HOSTS ?? 1000);
const CLI_SAMPLES = Number(process.env.FLEET_CLI_SAMPLES ?? 5);
const dist = (p) => pathToFileURL(path.join(root, 'dist', p)).href;

// The GitHub double is test code, compiled into dist/ by tsconfig.bench.json.
const { startGithubApiDouble } = await import(dist('test/doubles/github-api.js'));
const { generateX25519Identity, identityToRecipient } = await import('age-encryption');
const { loadConfig } = await import(dist('scripts/lib/config/load.js'));
const { wire, Lifecycle } = await import(dist('scripts/lib/lifecycle/index.js'));

const gh = await startGithubApiDouble({ writesPerMinute: 0, writesPerHour: 0, primaryLimit: 10_000_000 });
for (const full of Object.values(FLEET_REPOS)) gh.addRepo(full);

const dir = mkdtempSync(path.join(os.tmpdir(), 'dk-fleet-'));
const identity = await generateX25519Identity();
const recipient = await identityToRecipient(identity);
await fs.mkdir(path.join(dir, 'sops'), { mode: 0o700 });
await fs.writeFile(path.join(dir, 'deploy-keys.yaml'), fleetConfigYaml(gh.url));
await fs.writeFile(path.join(dir, '.sops.yaml'), `keys:\n  - &operator ${recipient}\ncreation_rules:\n  - path_regex: ^sops/.*\\.yaml$\n    key_groups:\n      - age:\n          - *operator\n`);
const env = { PATH: process.env.PATH, HOME: dir, USER: 'bench', DEPLOY_KEYS_ACTOR: 'bench', SOPS_AGE_KEY: identity, GH_TOKEN: gh.token, NO_COLOR: '1', DEPLOY_KEYS_CONFIG: path.join(dir, 'deploy-keys.yaml') };
const config = loadConfig(path.join(dir, 'deploy-keys.yaml'));
const hosts = Array.from({ length: N }, (_, i) => `host-${String(i).padStart(4, '0')}`);
const quiet = () => {
  const s = new PassThrough();
  s.resume();
  return s;
};
const io = { stdin: Object.assign(quiet(), { isTTY: false }), stdout: quiet(), stderr: quiet() };

// 1. vm-fresh, library, one shared run.
const requestsBefore = gh.requests.length;
const deps = await wire(config, env, io, { withActivation: true });
const lc = new Lifecycle(deps);
await lc.preflight(); // its listings serve every host of the run
if (process.env.FLEET_DEBUG) process.stderr.write("preflight done\n");
const t0 = performance.now();
for (const h of hosts) { await lc.vmFresh(h, { dryRun: false }); if (process.env.FLEET_DEBUG) process.stderr.write(`${h}\n`); }
const vmFreshMs = performance.now() - t0;
const vmFreshRequests = gh.requests.length - requestsBefore;
const registered = Object.values(FLEET_REPOS).reduce((n, f) => n + gh.keys(f).length, 0);
if (registered !== N * 2) throw new Error(`expected ${N * 2} keys on the double, found ${registered}`);

// Second pass: every host complete, nothing to write.
const w0 = gh.writes.length;
const t1 = performance.now();
const lc2 = new Lifecycle(await wire(config, env, io, { withActivation: true }));
for (const h of hosts) await lc2.vmFresh(h, { dryRun: false });
const rerunMs = performance.now() - t1;
if (process.env.FLEET_DEBUG) process.stderr.write(`rerun done\n`);
if (gh.writes.length !== w0) throw new Error('re-run made forge writes');

// 2. vm-fresh as separate CLI processes (new hosts).
const cli = path.join(root, 'dist', 'scripts', 'cli', 'bin.js');
const cliTimes = [];
for (let i = 0; i < CLI_SAMPLES; i++) {
  const t = performance.now();
  // Asynchronous: the double runs in this process and must keep answering.
  await run(process.execPath, [cli, 'vm-fresh', `extra-${i}`, '--yes'], { env, cwd: dir });
  cliTimes.push(performance.now() - t);
}

// 3. status over all hosts, whole process.
const statusRun = async (args) => {
  const t = performance.now();
  const r = await run(process.execPath, [cli, 'status', ...args], { env, cwd: dir, maxBuffer: 1 << 30 });
  return { ms: performance.now() - t, out: r.stdout };
};
await statusRun(['--json']); // warm the page cache once
const statusJson = [await statusRun(['--json']), await statusRun(['--json']), await statusRun(['--json'])];
const parsed = JSON.parse(statusJson[0].out);
const rows = parsed.hosts.reduce((n, h) => n + h.rows.length, 0);
if (parsed.hosts.length !== N + CLI_SAMPLES) throw new Error(`status listed ${parsed.hosts.length} hosts`);
if (!parsed.hosts.every((h) => h.rows.every((r) => r.registration === 'registered'))) throw new Error('status: not all registered');
const statusText = await statusRun([]);
const listRequests = gh.requests.filter((r) => r.method === 'GET').length;

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const totalHosts = N + CLI_SAMPLES;
const fmt = (n) => n.toFixed(1);
const cpu = os.cpus();
const md = `# Fleet benchmark

Generated by \`node bench/fleet-bench.mjs\` (after \`npm run build\`) on ${new Date().toISOString()}.

Machine: ${cpu[0]?.model ?? 'unknown'} × ${cpu.length} cores (shared with other jobs), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}, load average ${os.loadavg()[0].toFixed(1)} at the end; secrets dir on ${os.tmpdir()}.
GitHub API double on 127.0.0.1 with rate limits off; ${Object.keys(FLEET_REPOS).length} repos; real ed25519 keys; real SOPS files (one age recipient).

| measurement | hosts | total | per host |
|---|---:|---:|---:|
| vm-fresh, library, one run (generate, encrypt, register ${Object.keys(FLEET_REPOS).length} keys, state, log, activation script) | ${N} | ${fmt(vmFreshMs / 1000)} s | ${fmt(vmFreshMs / N)} ms |
| vm-fresh re-run, nothing to do (decrypt + plan; 0 forge writes) | ${N} | ${fmt(rerunMs / 1000)} s | ${fmt(rerunMs / N)} ms |
| vm-fresh, one CLI process per host (median of ${CLI_SAMPLES}) | 1 | ${fmt(median(cliTimes))} ms | ${fmt(median(cliTimes))} ms |
| \`status --json\`, whole process (median of 3) | ${totalHosts} | ${fmt(median(statusJson.map((s) => s.ms)))} ms | ${fmt(median(statusJson.map((s) => s.ms)) / totalHosts)} ms |
| \`status\` (table), whole process | ${totalHosts} | ${fmt(statusText.ms)} ms | ${fmt(statusText.ms / totalHosts)} ms |

- vm-fresh API requests for ${N} hosts: ${vmFreshRequests} (each repo listed once per run, by the preflight, then one POST per key).
- \`status --json\`: ${rows} rows, ${(statusJson[0].out.length / 2 ** 20).toFixed(1)} MiB of JSON; target for 1,000 hosts: < 5 s → ${median(statusJson.map((s) => s.ms)) < 5000 ? 'met' : 'NOT met'}.
- status reads only public data (state files + each repo's listing once); no age identity is used.
- GET requests during the whole benchmark: ${listRequests}.
`;
await fs.mkdir(path.join(root, 'bench', 'results'), { recursive: true });
await fs.writeFile(path.join(root, 'bench', 'results', 'fleet.md'), md);
process.stdout.write(md);
await gh.close();
rmSync(dir, { recursive: true, force: true });
