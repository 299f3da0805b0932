/** The CLI in-process: main() with captured output and an ended stdin (no terminal). */
import { PassThrough } from 'node:stream';
import { main } from '../../scripts/cli/main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(argv: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const stdin = new PassThrough();
  stdin.end();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await main(argv, { stdin, stdout, stderr }, env, cwd);
  return { code, stdout: out, stderr: err };
}
