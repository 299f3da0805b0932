/** The nixos-anywhere command line that installs a host with its extra files (pure). */
import { shQuote } from '../activation/index.js';
import { knownHostsName, parseSshTarget } from '../config/index.js';
import { UsageError } from '../errors.js';

export interface InstallTarget {
  /** `user@address`: where nixos-anywhere connects (the installer, then the installed host). */
  target: string;
  port: number;
}

/** Validates `--target` and `--port`; the name ssh will look the installed host up by. */
export function installTarget(target: string, port: number | undefined): InstallTarget & { knownHostsName: string } {
  const t = parseSshTarget(target, { requireUser: true });
  if (typeof t === 'string') throw new UsageError(`--target ${JSON.stringify(target)} ${t}`, 'e.g. root@192.0.2.10');
  const p = port ?? 22;
  if (!(Number.isInteger(p) && p >= 1 && p <= 65535)) throw new UsageError(`--port ${String(port)} must be 1-65535`);
  return { target, port: p, knownHostsName: knownHostsName(t.host, p) };
}

/** `nixos-anywhere --flake REF --extra-files DIR [-p PORT] --target-host USER@ADDR` as argv. */
export function nixosAnywhereArgv(dir: string, flake: string, t: InstallTarget): string[] {
  return ['nixos-anywhere', '--flake', flake, '--extra-files', dir, ...(t.port === 22 ? [] : ['-p', String(t.port)]), '--target-host', t.target];
}

/** One line to paste into a shell: every word quoted where it needs it. */
export function shellLine(argv: readonly string[]): string {
  return argv.map((w) => (/^[A-Za-z0-9._/@:=+-]+$/.test(w) ? w : shQuote(w, 'argument'))).join(' ');
}
