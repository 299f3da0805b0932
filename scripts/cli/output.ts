/** Terminal output: colour only on a TTY and never with NO_COLOR. */
import type { Writable } from 'node:stream';

export interface Streams {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

export function useColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(stream.isTTY) && env.NO_COLOR === undefined && env.TERM !== 'dumb';
}

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
}

const plain: Style = { bold: (s) => s, dim: (s) => s, red: (s) => s, green: (s) => s, yellow: (s) => s };
const sgr = (code: string) => (s: string) => `\x1b[${code}m${s}\x1b[0m`;
const ansi: Style = { bold: sgr('1'), dim: sgr('2'), red: sgr('31'), green: sgr('32'), yellow: sgr('33') };

export function styleFor(stream: { isTTY?: boolean }, env?: NodeJS.ProcessEnv): Style {
  return useColor(stream, env) ? ansi : plain;
}

/** Machine-readable output: stable key order as given, trailing newline. */
export function printJson(out: Writable, value: unknown): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}
