/**
 * Thin layer over node:util parseArgs that turns its errors into UsageError
 * (exit 2) and rejects surplus positionals.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../lib/errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export function parseCommandArgs<O extends Options>(
  command: string,
  args: string[],
  options: O,
  positionals: { min: number; max: number; names: string },
) {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { help: { type: 'boolean', short: 'h' }, ...options }, allowPositionals: true, strict: true });
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0]! : String(e);
    throw new UsageError(`${command}: ${msg.replace(/^.*?: /, '')}`, `see deploy-keys ${command} --help`);
  }
  const n = parsed.positionals.length;
  if (!(parsed.values as { help?: boolean }).help && (n < positionals.min || n > positionals.max)) {
    const what = n < positionals.min ? `missing ${positionals.names}` : `unexpected argument ${JSON.stringify(parsed.positionals[positionals.max])}`;
    throw new UsageError(`${command}: ${what}`, `see deploy-keys ${command} --help`);
  }
  return parsed;
}
