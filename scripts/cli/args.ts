/**
 * Thin layer over node:util parseArgs that turns its errors into UsageError
 * (exit 2) and checks the number of positionals, so callers get them typed.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../lib/errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** `N` strings, then any number more. */
export type AtLeast<N extends number, T extends string[] = []> = number extends N
  ? string[]
  : T['length'] extends N
    ? [...T, ...string[]]
    : AtLeast<N, [...T, string]>;

function hasAtLeast<N extends number>(a: string[], n: N): a is AtLeast<N> {
  return a.length >= n;
}

export function parseCommandArgs<O extends Options, const Min extends number>(
  command: string,
  args: string[],
  options: O,
  positionals: { min: Min; max: number; names: string },
) {
  let parsed;
  try {
    // `--help` is answered by main.ts before a command runs; it is declared so that parseArgs knows it.
    parsed = parseArgs({ args, options: { help: { type: 'boolean', short: 'h' }, ...options }, allowPositionals: true, strict: true });
  } catch (e) {
    const msg = e instanceof Error ? firstLine(e.message) : String(e);
    throw new UsageError(`${command}: ${msg.replace(/^.*?: /, '')}`, `see deploy-keys ${command} --help`);
  }
  const given = parsed.positionals;
  const n = given.length;
  if (n > positionals.max || !hasAtLeast(given, positionals.min)) {
    const what = n < positionals.min ? `missing ${positionals.names}` : `unexpected argument ${JSON.stringify(parsed.positionals[positionals.max])}`;
    throw new UsageError(`${command}: ${what}`, `see deploy-keys ${command} --help`);
  }
  return { values: parsed.values, positionals: given };
}

function firstLine(s: string): string {
  const nl = s.indexOf('\n');
  return nl < 0 ? s : s.slice(0, nl);
}
