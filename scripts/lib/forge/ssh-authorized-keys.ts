/**
 * The managed block in a git server account's authorized_keys (pure: parse
 * and render, no I/O).
 *
 *   ...operator lines, never touched...
 *   # BEGIN nix-deploy-keys managed block — do not edit
 *   # nix-deploy-keys id=3f2a… repo=/srv/git/acme/app.git created_at=2026-01-01T00:00:00Z
 *   restrict,command="case $SSH_ORIGINAL_COMMAND in … esac" ssh-ed25519 AAAA… web-01-app-deploy
 *   # END nix-deploy-keys managed block
 *   ...operator lines, never touched...
 *
 * Every deploy key line carries `restrict` (no pty, no forwarding, no agent,
 * no ~/.ssh/rc) and a forced command: a POSIX sh `case` on
 * $SSH_ORIGINAL_COMMAND that execs `git-upload-pack '<path>'` (or
 * git-upload-archive) only when the client asked for exactly that repo, and
 * otherwise prints a refusal and exits 1. Pushes (git-receive-pack) and other
 * repos are refused. sshd runs the forced command through the account's login
 * shell, so that shell must be a POSIX shell (not git-shell, which refuses
 * anything but bare git commands).
 *
 * A line is "read-only" only if it is byte-identical to what render() would
 * write for its metadata: a hand-edited line is reported as not read-only and
 * replaced by the canonical line on the next write.
 */
import { createHash } from 'node:crypto';
import { DeployKeysError } from '../errors.js';

export const BLOCK_BEGIN = '# BEGIN nix-deploy-keys managed block — do not edit';
export const BLOCK_END = '# END nix-deploy-keys managed block';
const META_PREFIX = '# nix-deploy-keys ';

export interface ManagedEntry {
  /** Stable id: first 16 hex digits of sha256 over the key blob. */
  id: string;
  /** Repository path exactly as clients send it (RepoUrl.path). */
  repoPath: string;
  /** `type base64`. */
  key: string;
  title: string;
  createdAt: string;
  /** The key line as found in the file (undefined for new entries). */
  line?: string;
}

export interface ParsedAuthorizedKeys {
  /** Text before the block (verbatim), or the whole file when there is no block. */
  before: string;
  /** Text after the END line's newline (verbatim). */
  after: string;
  hasBlock: boolean;
  entries: ManagedEntry[];
  /** `type base64` of every key line outside the block (to detect the same key granted elsewhere). */
  outsideKeys: string[];
}

export class ManagedBlockError extends DeployKeysError {
  override name = 'ManagedBlockError';
}

const SAFE_PATH = /^[A-Za-z0-9._~/-]+$/;

export function assertRepoPath(p: string): string {
  if (!SAFE_PATH.test(p) || p.startsWith('-') || p.split('/').some((s) => s === '..')) {
    throw new ManagedBlockError(`repository path ${JSON.stringify(p)} cannot be used in a forced command`, {
      hint: 'use a path of letters, digits and . _ ~ - / only',
    });
  }
  return p;
}

export function entryId(key: string): string {
  const blob = key.split(' ')[1] ?? '';
  return createHash('sha256').update(Buffer.from(blob, 'base64')).digest('hex').slice(0, 16);
}

/** Backslash-escapes every character that is not plainly literal in a sh `case` pattern. */
function casePattern(s: string): string {
  return s.replace(/[^A-Za-z0-9/._-]/g, (c) => `\\${c}`);
}

/** The forced command for a repo path (single line, no double quotes: it sits inside command="…"). */
export function forcedCommand(repoPath: string): string {
  assertRepoPath(repoPath);
  const variants = [repoPath];
  if (repoPath.endsWith('.git')) variants.push(repoPath.slice(0, -4));
  const pats = (cmd: string): string => variants.map((v) => casePattern(`${cmd} '${v}'`)).join('|');
  return (
    `case $SSH_ORIGINAL_COMMAND in ` +
    `${pats('git-upload-pack')}) exec git-upload-pack '${repoPath}';; ` +
    `${pats('git-upload-archive')}) exec git-upload-archive '${repoPath}';; ` +
    `*) echo 'nix-deploy-keys: refused: this deploy key may only fetch ${repoPath}' >&2; exit 1;; ` +
    `esac`
  );
}

function renderKeyLine(e: Pick<ManagedEntry, 'repoPath' | 'key' | 'title'>): string {
  return `restrict,command="${forcedCommand(e.repoPath)}" ${e.key} ${e.title}`;
}

function renderMeta(e: ManagedEntry): string {
  return `${META_PREFIX}id=${e.id} repo=${e.repoPath} created_at=${e.createdAt}`;
}

/** True when the line found in the file is exactly the canonical restricted line. */
export function isCanonical(e: ManagedEntry): boolean {
  return e.line === undefined || e.line === renderKeyLine(e);
}

/** Splits an authorized_keys line into options, key (`type base64`) and comment. */
function splitKeyLine(line: string): { options: string; key: string; comment: string } | undefined {
  const t = line.trim();
  if (t === '' || t.startsWith('#')) return undefined;
  let i = 0;
  const isKeyType = (w: string): boolean => /^(ssh-|ecdsa-sha2-|sk-)[A-Za-z0-9@.-]+$/.test(w);
  let options = '';
  const firstWord = /^\S+/.exec(t)?.[0] ?? '';
  if (!isKeyType(firstWord)) {
    // Options: up to the first blank outside double quotes (\" escapes a quote).
    let q = false;
    for (; i < t.length; i++) {
      const c = t[i];
      if (c === '\\' && q && t[i + 1] === '"') {
        i++;
        continue;
      }
      if (c === '"') q = !q;
      else if (!q && (c === ' ' || c === '\t')) break;
    }
    options = t.slice(0, i);
  }
  const rest = t.slice(i).trim();
  const m = /^(\S+)\s+(\S+)(?:\s+(.*))?$/.exec(rest);
  if (!m) return undefined;
  return { options, key: `${m[1]} ${m[2]}`, comment: m[3] ?? '' };
}

export function parseAuthorizedKeys(text: string, file = 'authorized_keys'): ParsedAuthorizedKeys {
  // Annotated, so that TypeScript narrows after a call.
  const fail: (what: string) => never = (what) => {
    throw new ManagedBlockError(`${file}: ${what}`, {
      hint: `repair the nix-deploy-keys managed block by hand (or delete it, BEGIN to END, and register the keys again)`,
    });
  };
  const beginAt = findLine(text, BLOCK_BEGIN);
  const endAt = findLine(text, BLOCK_END);
  const countOf = (marker: string): number => text.split('\n').filter((l) => l.replace(/\r$/, '') === marker).length;
  if (countOf(BLOCK_BEGIN) > 1 || countOf(BLOCK_END) > 1) fail('has more than one managed block');
  if (beginAt < 0 && endAt < 0) {
    return { before: text, after: '', hasBlock: false, entries: [], outsideKeys: keysOf(text) };
  }
  if (beginAt < 0 || endAt < 0 || endAt < beginAt) fail('has a broken managed block (BEGIN/END missing or out of order)');
  const endLineEnd = text.indexOf('\n', endAt);
  const before = text.slice(0, beginAt);
  const after = endLineEnd < 0 ? '' : text.slice(endLineEnd + 1);
  const inner = text.slice(text.indexOf('\n', beginAt) + 1, endAt).split('\n').map((l) => l.replace(/\r$/, ''));
  const entries: ManagedEntry[] = [];
  let meta: { id: string; repoPath: string; createdAt: string } | undefined;
  for (const line of inner) {
    if (line.trim() === '') continue;
    if (line.startsWith(META_PREFIX)) {
      if (meta) fail('has a metadata line without its key line');
      const [, id, repoPath, createdAt] = /^# nix-deploy-keys id=([0-9a-f]{16}) repo=(\S+) created_at=(\S+)$/.exec(line) ?? [];
      if (id === undefined || repoPath === undefined || createdAt === undefined) fail('has a malformed metadata line');
      meta = { id, repoPath, createdAt };
      continue;
    }
    if (line.startsWith('#')) fail('has an unexpected comment inside the managed block');
    const parts = splitKeyLine(line);
    if (!parts || !meta) fail('has a key line without its metadata line');
    const entry: ManagedEntry = { ...meta, key: parts.key, title: parts.comment, line };
    if (entryId(entry.key) !== entry.id) fail(`entry ${meta.id} does not match its key`);
    entries.push(entry);
    meta = undefined;
  }
  if (meta) fail('has a metadata line without its key line');
  return { before, after, hasBlock: true, entries, outsideKeys: [...keysOf(before), ...keysOf(after)] };
}

/** The whole file with a freshly rendered block; text outside the block is kept byte for byte. */
export function renderAuthorizedKeys(parsed: ParsedAuthorizedKeys, entries: ManagedEntry[]): string {
  const lines = [BLOCK_BEGIN];
  for (const e of entries) {
    assertRepoPath(e.repoPath);
    if (/[\r\n]/.test(e.title) || /[\r\n]/.test(e.key)) throw new ManagedBlockError('a deploy key title or key spans several lines');
    lines.push(renderMeta(e), renderKeyLine(e));
  }
  lines.push(BLOCK_END);
  const block = `${lines.join('\n')}\n`;
  if (parsed.hasBlock) return parsed.before + block + parsed.after;
  const sep = parsed.before === '' || parsed.before.endsWith('\n') ? '' : '\n';
  return parsed.before + sep + block;
}

function findLine(text: string, marker: string): number {
  let from = 0;
  for (;;) {
    const i = text.indexOf(marker, from);
    if (i < 0) return -1;
    const startOk = i === 0 || text[i - 1] === '\n';
    const after = text.slice(i + marker.length, i + marker.length + 2);
    const endOk = after === '' || after.startsWith('\n') || after === '\r\n' || after.startsWith('\r\n');
    if (startOk && endOk) return i;
    from = i + 1;
  }
}

function keysOf(text: string): string[] {
  const out: string[] = [];
  for (const l of text.split('\n')) {
    const p = splitKeyLine(l.replace(/\r$/, ''));
    if (p) out.push(p.key);
  }
  return out;
}
