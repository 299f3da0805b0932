/**
 * Errors the CLI turns into one line and an exit code.
 *
 * Every failure a user can cause or fix is a `DeployKeysError`: its message says
 * what went wrong and where, its `hint` says how to fix it. Nothing else about
 * the failure is printed, so a message must never carry secret material.
 */
export type ExitCode = 0 | 1 | 2;

export class DeployKeysError extends Error {
  override name = 'DeployKeysError';
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;

  constructor(message: string, options: { hint?: string; exitCode?: ExitCode; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.exitCode = options.exitCode ?? 1;
    this.hint = options.hint;
  }

  /** The one line the CLI prints. */
  oneLine(): string {
    const msg = this.message.replace(/\s*\n\s*/g, ' ');
    return this.hint ? `${msg} (${this.hint})` : msg;
  }
}

/** Bad command line: exit 2. */
export class UsageError extends DeployKeysError {
  override name = 'UsageError';
  constructor(message: string, hint?: string) {
    super(message, { exitCode: 2, ...(hint === undefined ? {} : { hint }) });
  }
}

/** Bad configuration or input file: exit 1, names the file. */
export class ConfigError extends DeployKeysError {
  override name = 'ConfigError';
}

/** A message for an unexpected error, with no stack and no secret-bearing fields. */
export function describeUnknown(e: unknown): string {
  if (e instanceof Error) return e.message.split('\n')[0] ?? e.name;
  return String(e);
}

/** The `code` of a Node system error (`ENOENT`, `EACCES`…), if `e` is one. */
export function errnoCode(e: unknown): string | undefined {
  return e instanceof Error && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}
