/** What every command gets: streams, environment, global flags, and config access. */
import type { Config } from '../lib/config/types.js';
import type { Streams, Style } from './output.js';

export interface CliContext extends Streams {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** `--config FILE` if given. */
  configFlag: string | undefined;
  /** Loads and validates the config once, on first use. */
  config(): Promise<Config>;
  out: Style;
  err: Style;
}

export interface Command {
  /** One line for the command list. */
  summary: string;
  /** Full `--help` text: usage line, description, options. */
  help: string;
  run(args: string[], ctx: CliContext): Promise<number>;
}
