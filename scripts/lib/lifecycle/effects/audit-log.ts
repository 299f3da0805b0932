/**
 * `<secrets_dir>/deploy-keys.log.jsonl`: one JSON line per change (time,
 * action, host, repo, forge key id, fingerprint, actor). Appended with O_APPEND
 * in a single write, so concurrent commands on different hosts interleave whole
 * lines. Never contains private keys.
 */
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { appendToFile } from '../../fs/index.js';
import { childEnv } from '../../process/index.js';
import type { AuditEntry, AuditLog, Clock } from '../core/types.js';

const LOG_NAME = 'deploy-keys.log.jsonl';

/** `$USER`, plus `git config user.email` when git answers within a moment. */
export function detectActor(env: NodeJS.ProcessEnv): string {
  const user = env.USER ?? env.LOGNAME ?? 'unknown';
  if (env.DEPLOY_KEYS_ACTOR) return env.DEPLOY_KEYS_ACTOR;
  try {
    const email = execFileSync('git', ['config', 'user.email'], { encoding: 'utf8', timeout: 1000, stdio: ['ignore', 'pipe', 'ignore'], env: childEnv(env, ['git-config']) }).trim();
    if (email) return `${user} <${email}>`;
  } catch {
    // no git or no email: $USER alone
  }
  return user;
}

export class FileAuditLog implements AuditLog {
  readonly file: string;
  constructor(secretsDir: string, readonly actor: string, readonly clock: Clock) {
    this.file = path.join(secretsDir, LOG_NAME);
  }
  async append(...entries: Omit<AuditEntry, 'time' | 'actor'>[]): Promise<void> {
    if (entries.length === 0) return;
    const time = new Date(this.clock.now()).toISOString();
    const text = entries.map((e) => `${JSON.stringify({ time, ...e, actor: this.actor } satisfies AuditEntry)}\n`).join('');
    await appendToFile(this.file, text, 0o600);
  }
}

export async function readAuditLog(secretsDir: string): Promise<AuditEntry[]> {
  let text: string;
  try {
    text = await fs.readFile(path.join(secretsDir, LOG_NAME), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as AuditEntry);
}
