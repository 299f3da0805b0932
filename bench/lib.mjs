// Shared helpers for the benchmarks: whole-process timing and machine notes.
import { spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';

/** Runs a command `runs` times (after `warmup` runs) and returns wall-clock stats in ms. */
export function timeProcess(cmd, args, { runs = 20, warmup = 3, env = process.env, input, cwd } = {}) {
  const samples = [];
  for (let i = 0; i < warmup + runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { env, input, cwd, stdio: [input === undefined ? 'ignore' : 'pipe', 'ignore', 'pipe'] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.toString().slice(0, 300)}`);
    if (i >= warmup) samples.push(ms);
  }
  return stats(samples);
}

/**
 * Times several commands side by side: each round runs every command once, in
 * turn, so drift on a shared machine hits them alike. Returns stats per command.
 */
export function timeInterleaved(commands, { runs = 15, warmup = 3, env = process.env, cwd } = {}) {
  const samples = commands.map(() => []);
  for (let i = 0; i < warmup + runs; i++) {
    commands.forEach(([cmd, args], j) => {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(cmd, args, { env, cwd, stdio: ['ignore', 'ignore', 'pipe'] });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.toString().slice(0, 300)}`);
      if (i >= warmup) samples[j].push(ms);
    });
  }
  return samples.map(stats);
}

export function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { runs: s.length, median: q(0.5), min: s[0], p90: q(0.9), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

export function machine() {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  let os = 'Linux';
  try {
    os = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os;
  } catch {
    // no /etc/os-release: keep "Linux"
  }
  return `${cpus().length} × ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${os}, Node ${process.version}`;
}

export const fmt = (ms) => `${ms.toFixed(1)} ms`;

/** The fleet benchmarks' two repos, on the GitHub double. */
export const FLEET_REPOS = { 'nix-config': 'acme/nix-config', dotfiles: 'acme/dotfiles' };

/** deploy-keys.yaml for the fleet benchmarks: the GitHub double at `apiUrl`, its write limits off. */
export function fleetConfigYaml(apiUrl) {
  const repos = Object.entries(FLEET_REPOS)
    .map(([n, f]) => `  ${n}:\n    url: git@github.com:${f}.git\n`)
    .join('');
  return `secrets_dir: sops\nforge:\n  type: github\n  api_url: ${apiUrl}\n  token_env: GH_TOKEN\n  writes_per_minute: 0\n  writes_per_hour: 0\nrepos:\n${repos}`;
}
