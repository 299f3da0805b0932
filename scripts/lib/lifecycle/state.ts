/**
 * The public sidecar `<secrets_dir>/deploy-keys-state/<host>.json` (no secrets,
 * written atomically, mode 0644) and its derivation from the host file.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { ensureDir, writeFileAtomic } from '../fs/index.js';
import { hostNameProblem } from '../names.js';
import { findByFingerprint } from './plan.js';
import type { DeployKey, HostKeysView, HostState, KeyRecord, RepoState, Slot, StateStore } from './types.js';

export const STATE_DIR = 'deploy-keys-state';

export function stateDir(secretsDir: string): string {
  return path.join(secretsDir, STATE_DIR);
}

export function newState(host: string, now: Date): HostState {
  return { version: 1, host, repos: {}, updatedAt: now.toISOString() };
}

export class FileStateStore implements StateStore {
  readonly dir: string;
  constructor(secretsDir: string) {
    this.dir = stateDir(secretsDir);
  }
  file(host: string): string {
    return path.join(this.dir, `${host}.json`);
  }
  async load(host: string): Promise<HostState | undefined> {
    const file = this.file(host);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new ConfigError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code})`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ConfigError(`${file}: not valid JSON`, { hint: 'restore it from version control, or delete it and re-run "deploy-keys vm-fresh" for the host' });
    }
    if (!isStateOf(parsed, host)) {
      throw new ConfigError(`${file}: not a deploy-keys state file for ${host}`, { hint: 'restore it from version control' });
    }
    return parsed;
  }
  async save(state: HostState): Promise<void> {
    await ensureDir(this.dir);
    await writeFileAtomic(this.file(state.host), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o644 });
  }
  async hosts(): Promise<string[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    return names
      .filter((n) => n.endsWith('.json'))
      .map((n) => n.slice(0, -'.json'.length))
      .filter((h) => hostNameProblem(h) === undefined)
      .sort();
  }
}

/**
 * Rebuilds the per-repo records from what the host file holds, keeping what the
 * old state knew about each key (by fingerprint) and filling gaps from the forge.
 */
export function deriveRepos(
  view: HostKeysView,
  old: HostState | undefined,
  listings: ReadonlyMap<string, readonly DeployKey[]>,
  now: Date,
  titles: (repo: string) => string,
): Record<string, RepoState> {
  const known = new Map<string, KeyRecord>();
  for (const rs of Object.values(old?.repos ?? {})) for (const r of [rs.current, rs.next, rs.previous]) if (r) known.set(r.fingerprint, r);
  const repos: Record<string, RepoState> = {};
  for (const slot of ['current', 'next', 'previous'] as Slot[]) {
    for (const [repo, info] of Object.entries(view[slot])) {
      const prior = known.get(info.fingerprint);
      const onForge = findByFingerprint(listings.get(repo), info.fingerprint);
      const rec: KeyRecord = prior
        ? { ...prior }
        : { fingerprint: info.fingerprint, publicKey: info.publicKey, title: titles(repo), createdAt: onForge?.createdAt ?? now.toISOString() };
      if (onForge) {
        rec.forgeId = onForge.id;
        rec.registeredAt ??= onForge.createdAt ?? now.toISOString();
        delete rec.pending;
      }
      if (slot === 'previous') rec.retiredAt ??= now.toISOString();
      else delete rec.retiredAt;
      (repos[repo] ??= {})[slot] = rec;
    }
  }
  return repos;
}

/** The shape checks a state file must pass before it is used. */
function isStateOf(v: unknown, host: string): v is HostState {
  return typeof v === 'object' && v !== null && 'version' in v && v.version === 1 && 'host' in v && v.host === host && 'repos' in v && typeof v.repos === 'object' && v.repos !== null;
}
