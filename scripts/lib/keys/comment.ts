/**
 * Key comments end up in `.pub` lines, authorized_keys, known_hosts and forge
 * titles, all line-oriented: a newline or control character in a comment could
 * smuggle a second entry into one of them.
 */
import { DeployKeysError } from '../errors.js';

/** At most what GitHub allows for a deploy key title. */
export const COMMENT_MAX = 255;

// C0, DEL, C1 controls, Unicode line/paragraph separators, lone surrogates
// (not encodable as UTF-8), and BOM/bidi controls that disguise text.
const BAD = /[\p{Cc}\u2028\u2029\ufeff\u202a-\u202e\u2066-\u2069]|[\ud800-\udfff]/u;

export function commentProblem(comment: string): string | undefined {
  if (comment.length === 0) return 'is empty';
  if (comment.length > COMMENT_MAX) return `is ${comment.length} characters long (at most ${COMMENT_MAX})`;
  if (BAD.test(comment)) return 'contains a newline or control character';
  if (comment.trim() !== comment) return 'has leading or trailing whitespace';
  return undefined;
}

export function assertComment(comment: string, where = 'key comment'): string {
  const problem = commentProblem(comment);
  if (problem) {
    throw new DeployKeysError(`${where} ${showComment(comment)} ${problem}`, {
      hint: 'use a single-line comment like "web-01-nix-config-deploy"',
    });
  }
  return comment;
}

/** `text` with every character `BAD` names written as `\u{…}`: safe to print on a terminal. */
export function escapeControls(text: string): string {
  return text.replace(new RegExp(BAD.source, 'gu'), (c) => `\\u{${c.charCodeAt(0).toString(16)}}`);
}

/** A comment quoted for a message: not secret, but it may be long or hold control characters. */
export function showComment(comment: string): string {
  const short = comment.length > 60 ? `${comment.slice(0, 60)}…` : comment;
  return `"${escapeControls(short.replace(/["\\]/g, '\\$&'))}"`;
}
