/**
 * Single-quote shell quoting for values that end up in the rendered POSIX sh
 * script. Everything between single quotes is literal in sh, so the only
 * character to handle is the quote itself; NUL and newline are refused
 * because no configured value may contain them (a newline inside a value would
 * also turn one ssh config / known_hosts line into two).
 */
import { DeployKeysError } from '../errors.js';

export class ShellQuoteError extends DeployKeysError {
  override name = 'ShellQuoteError';
}

/** Throws when `value` holds a NUL, a newline or a carriage return. */
function assertOneLine(value: string, what: string): string {
  if (/[\0\n\r]/.test(value)) {
    throw new ShellQuoteError(`${what} contains a newline or NUL character`, {
      hint: 'configured values must be single lines of printable text',
    });
  }
  return value;
}

/** `'it'\''s'`: one sh word with exactly the bytes of `value`. */
export function shQuote(value: string, what = 'value'): string {
  assertOneLine(value, what);
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * A multi-line text (a file's content) as one single-quoted sh word. Each line
 * is checked like a value; the line breaks are the text's own.
 */
export function shQuoteText(text: string, what = 'text'): string {
  if (/[\0\r]/.test(text)) throw new ShellQuoteError(`${what} contains a NUL or carriage return`);
  return `'${text.replace(/'/g, `'\\''`)}'`;
}
