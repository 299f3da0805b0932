/**
 * Everything the CLI prints as text goes through a TerminalWriter, which
 * escapes control characters: forge titles and logins, forge, git and ssh
 * messages, file contents quoted in errors are made safe in this one place,
 * whatever path they took. Colour is the only escape sequence that gets
 * through, and only as a `style` mark, on a terminal, without NO_COLOR.
 */
import { randomBytes } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import { Writable } from 'node:stream';
import { escapeControls } from '../lib/controls.js';

export interface Streams {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

/** The CLI's streams: text writers, and stdout as is for file contents a user redirects. */
export interface CliStreams extends Streams {
  /** stdout, verbatim: decrypted values and files (`sops decrypt`), the activation script. */
  data: Writable;
}

function useColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(stream.isTTY) && env.NO_COLOR === undefined && env.TERM !== 'dumb';
}

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
}

// A mark is NUL, a per-process random token, an SGR code, NUL. Text from
// outside cannot hold a mark: any NUL it has is escaped, and the token is
// never printed (a writer turns each mark into SGR or into nothing).
const TOKEN = randomBytes(8).toString('hex');
const MARK = new RegExp(`\\x00${TOKEN}(\\d+)\\x00`, 'g');
const mark = (code: number) => (s: string) => `\x00${TOKEN}${code}\x00${s}\x00${TOKEN}0\x00`;

/** Colour for any writer: shown where the writer's stream shows colour, dropped elsewhere. */
export const style: Style = { bold: mark(1), dim: mark(2), red: mark(31), green: mark(32), yellow: mark(33) };

/** `text` as a writer prints it: controls but newline and tab escaped, marks turned into SGR (`colour`) or dropped. */
export function terminalText(text: string, colour: boolean): string {
  let out = '';
  let at = 0;
  for (const m of text.matchAll(MARK)) {
    out += escapeControls(text.slice(at, m.index), '\n\t') + (colour ? `\x1b[${m[1]}m` : '');
    at = m.index + m[0].length;
  }
  return out + escapeControls(text.slice(at), '\n\t');
}

/** A text stream over `target`: every write goes through terminalText(), synchronously and in order. */
export class TerminalWriter extends Writable {
  readonly isTTY: boolean;
  readonly #target: Writable;
  readonly #colour: boolean;
  // Bytes from a child may split a character between two chunks.
  readonly #decoder = new StringDecoder('utf8');

  constructor(target: Writable & { isTTY?: boolean }, colour: boolean) {
    super({ decodeStrings: false });
    this.isTTY = target.isTTY === true;
    this.#target = target;
    this.#colour = colour;
  }

  override _write(chunk: unknown, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    const text = typeof chunk === 'string' ? chunk : this.#decoder.write(chunk as Buffer);
    this.#target.write(terminalText(text, this.#colour));
    done();
  }
}

/** The CLI's streams over the process's (or a test's). */
export function cliStreams(streams: Streams, env: NodeJS.ProcessEnv): CliStreams {
  return {
    stdin: streams.stdin,
    stdout: new TerminalWriter(streams.stdout, useColor(streams.stdout, env)),
    stderr: new TerminalWriter(streams.stderr, useColor(streams.stderr, env)),
    data: streams.stdout,
  };
}

/** Machine-readable output: stable key order as given, trailing newline. Through a writer it stays valid JSON with the same values. */
export function printJson(out: Writable, value: unknown): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}
