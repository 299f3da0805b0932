/** Runs the real age tools with data on stdin; key files are passed by path, never by content. */
import { spawnSync } from 'node:child_process';

export interface Run {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

export function run(cmd: string, args: string[], input: Uint8Array | string = ''): Run {
  const r = spawnSync(cmd, args, { input, maxBuffer: 1 << 24 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** Like run, but throws with stderr unless the tool exits 0. */
export function ok(cmd: string, args: string[], input: Uint8Array | string = ''): Buffer {
  const r = run(cmd, args, input);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** The stanzas of a binary age file's header, as `{ args, body }`. */
export function headerStanzas(file: Uint8Array): { args: string[]; body: Buffer }[] {
  const text = Buffer.from(file).toString('latin1');
  const header = text.slice(0, text.indexOf('\n---'));
  return header
    .split('\n-> ')
    .slice(1)
    .map((chunk) => {
      const [argLine = '', ...bodyLines] = chunk.split('\n');
      return { args: argLine.split(' '), body: Buffer.from(bodyLines.join(''), 'base64') };
    });
}
