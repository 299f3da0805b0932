import { parseCommandArgs } from '../args.js';
import type { Command } from '../context.js';
import { CHANGE_OPTIONS } from '../host-commands.js';
import { printJson } from '../output.js';
import { DeployKeysError } from '../../lib/errors.js';
import { assertHostName } from '../../lib/names.js';

const HELP = `Usage: deploy-keys revoke <host> [--purge] [--no-rotate-data-key] [--yes] [--dry-run] [--json] [--manual]

Cuts a compromised host off: deletes its deploy keys on every configured repo,
also those the config no longer gives it (repos.<name>.hosts / except), found by
fingerprint from its public state and by title <host>-<repo>-deploy;
removes its age recipient from .sops.yaml, re-encrypts every file it could read
under a new data key for the remaining recipients, removes its keys from its
host file (or deletes the file with --purge), and lists the secret values it
could read (SOPS paths like ["db"]["password"], never their contents). Other
hosts are unaffected. A key the forge refuses to delete is an error: re-run to
continue; a re-run also finishes an interrupted revoke.

Why new data keys: updatekeys alone keeps a file's data key, so a host that
kept any copy of a file (or reads it from git history) could still decrypt
every later version. After the rotation its old copies open nothing written
since. What it read before stays read, and git history keeps the old versions:
change each listed value at its source (database, API, ...).

Re-encrypting needs your age identity (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY or
~/.config/sops/age/keys.txt); without it nothing is changed.

Options:
  --purge                delete the host file instead of removing the keys from
                         it (works without being able to decrypt it)
  --no-rotate-data-key   only re-wrap the data keys (updatekeys). The host's old
                         copies of the files keep opening every later version
                         until you run "deploy-keys sops rotate --in-place FILE"
  --dry-run              print the plan and the values the host could read; change nothing
  --json                 machine-readable result (the values under "exposed")
  -y, --yes              no confirmation prompt (required when stdin is not a terminal)
`;

export const command: Command = {
  help: HELP,
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs(
      'revoke',
      args,
      {
        purge: { type: 'boolean' },
        'no-rotate-data-key': { type: 'boolean' },
        ...CHANGE_OPTIONS,
      },
      { min: 1, max: 1, names: 'HOST' },
    );
    const host = assertHostName(positionals[0]);
    const config = await ctx.config();
    const { wire, Lifecycle, hostResultJson, printHostResult } = await import('../../lib/lifecycle/index.js');
    const { confirmer } = await import('../confirm.js');
    const confirm = confirmer(ctx, Boolean(values.yes));
    const deps = await wire(config, ctx.env, ctx, { json: Boolean(values.json), manual: Boolean(values.manual), ...(confirm ? { confirm } : {}) });
    if (deps.forge.kind === 'manual') {
      const { forgeTokenEnv } = await import('../../lib/config/index.js');
      const tokenEnv = forgeTokenEnv(config.forge);
      throw new DeployKeysError('revoke needs the forge API to find and delete every key of the host', {
        hint: `set the token (${tokenEnv ? `$${tokenEnv}` : 'see forge in the config'}) and run revoke without --manual`,
      });
    }
    const lc = new Lifecycle(deps);
    await lc.preflight();
    const res = await lc.revoke(host, { dryRun: Boolean(values['dry-run']), purge: Boolean(values.purge), rotateDataKey: !values['no-rotate-data-key'] });
    if (values.json) printJson(ctx.stdout, hostResultJson(res));
    else printHostResult(ctx.stdout, ctx.stderr, res);
    return 0;
  },
};
