/**
 * Where age identities come from, like sops (spec §6.2): SOPS_AGE_KEY,
 * SOPS_AGE_KEY_FILE, the default keys file, and SSH private keys — all of them,
 * not just the first found. The environment is a parameter so callers and tests
 * control it.
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SopsConfigError } from '../errors.js';

export type IdentitySpec =
  | { kind: 'age'; key: string; source: string }
  | { kind: 'ssh'; privateKey: string; source: string; optional?: boolean };

/**
 * Identities in a keys file: one per line (or several per line, 3.13+), `#`
 * comments ignored. Parsed (strictly, by the age module) only when used: `source`
 * names the file and line for its errors, which never repeat the key.
 */
function keysFileSpecs(text: string, source: string): IdentitySpec[] {
  const out: IdentitySpec[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) return;
    for (const key of t.split(/\s+/)) out.push({ kind: 'age', key, source: `${source} line ${i + 1}` });
  });
  return out;
}

export interface IdentityEnv {
  env: NodeJS.ProcessEnv;
  /** Defaults to os.homedir(); tests pass a temp dir. */
  home?: string;
}

export function collectIdentities({ env, home = env.HOME ?? os.homedir() }: IdentityEnv): IdentitySpec[] {
  const out: IdentitySpec[] = [];
  const readRequired = (file: string, what: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (e) {
      throw new SopsConfigError(`cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { hint: `fix or unset ${what}` });
    }
  };
  if (env.SOPS_AGE_SSH_PRIVATE_KEY_FILE) {
    out.push({ kind: 'ssh', privateKey: readRequired(env.SOPS_AGE_SSH_PRIVATE_KEY_FILE, 'SOPS_AGE_SSH_PRIVATE_KEY_FILE'), source: env.SOPS_AGE_SSH_PRIVATE_KEY_FILE });
  } else {
    const def = path.join(home, '.ssh', 'id_ed25519');
    if (existsSync(def)) {
      try {
        out.push({ kind: 'ssh', privateKey: readFileSync(def, 'utf8'), source: def, optional: true });
      } catch {
        // an unreadable default SSH key is not an error, as in sops
      }
    }
  }
  if (env.SOPS_AGE_KEY) out.push(...keysFileSpecs(env.SOPS_AGE_KEY, 'SOPS_AGE_KEY'));
  if (env.SOPS_AGE_KEY_FILE) out.push(...keysFileSpecs(readRequired(env.SOPS_AGE_KEY_FILE, 'SOPS_AGE_KEY_FILE'), env.SOPS_AGE_KEY_FILE));
  const xdg = env.XDG_CONFIG_HOME;
  const configDir = xdg === undefined || xdg === '' ? path.join(home, '.config') : xdg; // empty = unset, as the XDG spec says
  const defaultFile = path.join(configDir, 'sops', 'age', 'keys.txt');
  if (existsSync(defaultFile)) out.push(...keysFileSpecs(readRequired(defaultFile, 'the age keys file'), defaultFile));
  return out;
}

export const IDENTITY_HINT = 'set SOPS_AGE_KEY_FILE (or SOPS_AGE_KEY) to an age key of one of the recipients, or put it in ~/.config/sops/age/keys.txt';
