/** Which hosts `--all` means: a state file or a host file, and not revoked. */
import { promises as fs } from 'node:fs';
import type { Config } from '../../config/index.js';
import { hostNameProblem } from '../../names.js';
import type { StateStore } from '../core/types.js';

export async function provisionedHosts(config: Config, states: StateStore): Promise<string[]> {
  const names = new Set(await states.hosts());
  for (const f of await fs.readdir(config.secretsDir).catch(() => [] as string[])) {
    const [, name] = /^(.+)\.yaml$/.exec(f) ?? [];
    if (name !== undefined && hostNameProblem(name) === undefined) names.add(name);
  }
  const out: string[] = [];
  for (const h of [...names].sort()) {
    const st = await states.load(h);
    if (!st?.revoked) out.push(h);
  }
  return out;
}
