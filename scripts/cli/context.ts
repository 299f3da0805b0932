/** What every command gets: streams, environment, global flags, and config access. */
import type { Config } from '../lib/config/index.js';
import type { CliStreams, Style } from './output.js';

export interface CliContext extends CliStreams {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** `--config FILE` if given. */
  configFlag: string | undefined;
  /** Loads and validates the config once, on first use. */
  config(): Promise<Config>;
  /** Colour for text on stdout or stderr (each writer decides whether to show it). */
  style: Style;
}

/** A command's one-line summary lives in main.ts's table, so `--help` loads no command module. */
export interface Command {
  /** Full `--help` text: usage line, description, options. */
  help: string;
  run(args: string[], ctx: CliContext): Promise<number>;
}
