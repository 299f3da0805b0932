/**
 * The pinned Nix inputs of the module tests (test/nix/inputs.nix): fetched by
 * `builtins.fetchTarball` where there is network, found in the store where
 * they were added beforehand (.ci/run). In CI a missing input fails the run;
 * elsewhere the tests that need them are skipped, saying why.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { haveTools } from './tools.js';

const INPUTS = path.resolve(import.meta.dirname, '../nix/inputs.nix');

export type NixInputs = { ok: true; sources: Record<string, string> } | { ok: false; reason: string };

let cached: NixInputs | undefined;

export function nixInputs(): NixInputs {
  if (cached) return cached;
  cached = probe();
  if (!cached.ok && (process.env.CI === 'true' || process.env.CI === '1')) {
    throw new Error(`CI requires the pinned Nix inputs of test/nix/inputs.nix: ${cached.reason} (.ci/run adds them to the store)`);
  }
  return cached;
}

function probe(): NixInputs {
  if (!haveTools('nix-instantiate')) return { ok: false, reason: 'nix-instantiate is not installed' };
  const r = spawnSync(
    'nix-instantiate',
    ['--option', 'connect-timeout', '10', '--option', 'download-attempts', '1', '--eval', '--strict', '--json', '-E', `(import ${INPUTS}).sources`],
    { encoding: 'utf8', timeout: 300_000 },
  );
  if (r.status === 0) return { ok: true, sources: JSON.parse(r.stdout) as Record<string, string> };
  const error = (r.stderr || String(r.error ?? ''))
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.startsWith('error:'));
  return { ok: false, reason: `the pinned nixpkgs lib and sops-nix are neither in the Nix store nor downloadable (${error ?? `exit ${r.status}`})` };
}
