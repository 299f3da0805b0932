/**
 * The public sidecar `<secrets_dir>/deploy-keys-state/<host>.json` on disk: no
 * secrets, written atomically, mode 0644.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../errors.js';
import { ensureDir, writeFileAtomic } from '../../fs/index.js';
import { hostNameProblem } from '../../names.js';
import type { HostState, StateStore } from '../core/types.js';

export const STATE_DIR = 'deploy-keys-state';

export function stateDir(secretsDir: string): string {
  return path.join(secretsDir, STATE_DIR);
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

/** The shape checks a state file must pass before it is used. */
function isStateOf(v: unknown, host: string): v is HostState {
  return typeof v === 'object' && v !== null && 'version' in v && v.version === 1 && 'host' in v && v.host === host && 'repos' in v && typeof v.repos === 'object' && v.repos !== null;
}
