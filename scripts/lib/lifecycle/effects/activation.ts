/** The host's activation script on disk: `<secrets_dir>/../activation/<host>.sh` unless `-o` names another place. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../config/index.js';
import { ensureDir, writeFileAtomic } from '../../fs/index.js';
import type { ActivationPort } from '../core/types.js';

function activationPath(config: Config, host: string, override?: string): string {
  return override ? path.resolve(override) : path.join(path.dirname(config.secretsDir), 'activation', `${host}.sh`);
}

export function activationPort(config: Config, override?: string): ActivationPort {
  const render = async (host: string, publicKeys: Record<string, string>) => {
    const { renderActivationScript } = await import('../../activation/index.js');
    const keys = Object.fromEntries(Object.entries(publicKeys).filter(([repo]) => config.repos.some((r) => r.name === repo)));
    return renderActivationScript(config, host, { publicKeys: keys });
  };
  return {
    path: (host) => activationPath(config, host, override),
    async isCurrent(host, publicKeys) {
      const want = await render(host, publicKeys);
      const have = await fs.readFile(activationPath(config, host, override), 'utf8').catch(() => undefined);
      return have === want;
    },
    async write(host, publicKeys) {
      const file = activationPath(config, host, override);
      await ensureDir(path.dirname(file));
      await writeFileAtomic(file, await render(host, publicKeys), { mode: 0o755 });
    },
  };
}
