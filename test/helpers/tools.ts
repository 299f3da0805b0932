/**
 * Tests use real tools (age, ssh-keygen, sshd, git, shellcheck, nix-instantiate).
 * On a developer machine a missing tool skips the tests that need it; in CI
 * (CI=true) it fails the run, so a green CI never hides an untested part.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const cache = new Map<string, boolean>();

function present(tool: string): boolean {
  if (tool.startsWith('/')) return existsSync(tool);
  let found = cache.get(tool);
  if (found === undefined) {
    try {
      execFileSync('sh', ['-c', `command -v "$1"`, 'sh', tool], { stdio: 'ignore' });
      found = true;
    } catch {
      found = false;
    }
    cache.set(tool, found);
  }
  return found;
}

/** True when every tool is on PATH; throws in CI when one is missing. */
export function haveTools(...tools: string[]): boolean {
  const missing = tools.filter((t) => !present(t));
  if (missing.length === 0) return true;
  if (process.env.CI === 'true' || process.env.CI === '1') {
    throw new Error(`CI requires ${missing.join(', ')} on PATH (install them in .ci/run)`);
  }
  return false;
}
