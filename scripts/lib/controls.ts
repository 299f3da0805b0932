/**
 * Control characters in text that came from outside (forge replies, git and
 * ssh messages, file contents quoted in errors): what they are and how they
 * are escaped, defined once. A terminal obeys ESC, BEL, CSI… as commands
 * (retitle the window, clear the screen, hide text); newlines and separators
 * would smuggle extra lines into line-oriented files.
 */

/**
 * C0, DEL and C1 controls, Unicode line/paragraph separators, lone surrogates
 * (not encodable as UTF-8), and BOM/bidi controls that disguise text. All lie
 * in the BMP, so each is one UTF-16 unit.
 */
export const CONTROL = /[\p{Cc}\u2028\u2029\ufeff\u202a-\u202e\u2066-\u2069]|[\ud800-\udfff]/u;

const EVERY_CONTROL = new RegExp(CONTROL.source, 'gu');

/**
 * `text` with every CONTROL character written as `\uXXXX`: safe on a terminal,
 * and inside a JSON string still valid JSON with the same value. Characters in
 * `keep` stay as they are (the CLI's writers keep newline and tab).
 */
export function escapeControls(text: string, keep = ''): string {
  return text.replace(EVERY_CONTROL, (c) => (keep.includes(c) ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}
