/**
 * Key comments end up in `.pub` lines, authorized_keys, known_hosts and forge
 * titles, all line-oriented: a newline or control character in a comment could
 * smuggle a second entry into one of them.
 */
import { CONTROL, escapeControls } from '../controls.js';
import { DeployKeysError } from '../errors.js';

/** At most what GitHub allows for a deploy key title. */
export const COMMENT_MAX = 255;

export function commentProblem(comment: string): string | undefined {
  if (comment.length === 0) return 'is empty';
  if (comment.length > COMMENT_MAX) return `is ${comment.length} characters long (at most ${COMMENT_MAX})`;
  if (CONTROL.test(comment)) return 'contains a newline or control character';
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

/** A comment quoted for a message: not secret, but it may be long or hold control characters. */
function showComment(comment: string): string {
  const short = comment.length > 60 ? `${comment.slice(0, 60)}…` : comment;
  return `"${escapeControls(short.replace(/["\\]/g, '\\$&'))}"`;
}
