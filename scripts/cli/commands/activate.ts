import { parseCommandArgs } from '../args.js';
import type { Command } from '../context.js';
import { decryptHostKeys, renderHostScript, SCRIPT_OPTIONS, SCRIPT_OPTIONS_HELP, warnAboutFlakeInputs } from '../host-script.js';
import { DeployKeysError, UsageError } from '../../lib/errors.js';
import { assertHostName } from '../../lib/names.js';

const HELP = `Usage: deploy-keys activate <host> --root DIR [options]

Runs the host's activation script on this machine: decrypts the host's keys
from its SOPS file with your age identity (SOPS_AGE_KEY_FILE, …) and feeds
them to the script on standard input — never through argv or a temp file.
--root DIR prefixes every path the script touches (a sandbox, or a mounted
system during installation). Use --root / to install for real on this machine.

Options:
  --root DIR       prefix for every absolute path (required)
  --no-clone       keys and ssh config only
${SCRIPT_OPTIONS_HELP}
`;

export const command: Command = {
  help: HELP,
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs('activate', args, { root: { type: 'string' }, 'no-clone': { type: 'boolean' }, ...SCRIPT_OPTIONS }, { min: 1, max: 1, names: '<host>' });
    if (!values.root) throw new UsageError('activate: --root DIR is required', 'pass --root / to install on this machine itself');
    const host = assertHostName(positionals[0]);
    const config = await ctx.config();
    const script = await renderHostScript(config, host, values);
    await warnAboutFlakeInputs(config, ctx);
    const keys = await decryptHostKeys(config, host, ctx.env, values.repo);
    const { runActivation } = await import('../../lib/activation/index.js');
    const r = await runActivation({ script, root: values.root, keys, parentEnv: ctx.env, args: values['no-clone'] ? ['--no-clone'] : [] });
    ctx.stdout.write(r.stdout);
    ctx.stderr.write(r.stderr);
    if (r.exitCode !== 0) {
      throw new DeployKeysError(`activation of ${host} under ${values.root} failed${r.failed.length ? ` for: ${r.failed.join(' ')}` : ` (exit ${r.exitCode})`}`, { hint: 'see the messages above' });
    }
    return 0;
  },
};
