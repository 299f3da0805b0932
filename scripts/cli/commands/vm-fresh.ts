import { readFile } from 'node:fs/promises';
import { parseCommandArgs } from '../args.js';
import type { Command } from '../context.js';
import { printJson } from '../output.js';
import { DeployKeysError, describeUnknown, errnoCode } from '../../lib/errors.js';
import { assertHostName } from '../../lib/names.js';

const HELP = `Usage: deploy-keys vm-fresh <host> [--host-key FILE|PUB] [-o FILE] [--dry-run] [--json] [--yes] [--manual]

Creates, or completes, a host: one read-only ED25519 deploy key per configured
repo, stored encrypted in <secrets_dir>/<host>.yaml (other keys in that file are
kept), registered on the forge, and the host's activation script.

Re-running for a complete host changes nothing and makes no forge write. An
interrupted run is finished by running the same command again.

Options:
  --host-key FILE|PUB  the host's ssh-ed25519 public key (file, or the key line):
                       its age recipient is added to .sops.yaml (a creation rule
                       for the host's file) and the host file is re-keyed
  -o, --output FILE    activation script path (default <secrets_dir>/../activation/<host>.sh)
  --dry-run            print the plan (files, keys, forge calls); change nothing
  --json               machine-readable result on stdout
  -y, --yes            no confirmation prompt
  --manual             register keys by hand (checklist) instead of the forge API;
                       without the forge token this is what happens at a terminal,
                       while a non-interactive run fails and names the variable

The age identity that decrypts the host file comes from SOPS_AGE_KEY,
SOPS_AGE_KEY_FILE or ~/.config/sops/age/keys.txt (never from the command line).
The forge credential comes from the config: the variable named by
forge.token_env, or (GitHub) forge.auth: { type: app, app_id, private_key_file,
installation_id? }, a GitHub App whose installation tokens are minted per run
(keys it creates survive staff changes; see the README).
`;

async function hostRecipient(spec: string): Promise<string> {
  const line = spec.trim().startsWith('ssh-')
    ? spec.trim()
    : await readFile(spec, 'utf8').catch((e: unknown) => {
        throw new DeployKeysError(`--host-key: cannot read ${spec}: ${errnoCode(e) ?? describeUnknown(e)}`, { hint: "pass the host's /etc/ssh/ssh_host_ed25519_key.pub or the key line", exitCode: 2 });
      });
  const key = line.split(/\r?\n/).map((l) => l.trim().replace(/^(?!ssh-)\S+\s+/, '')).find((l) => l.startsWith('ssh-ed25519 '));
  if (!key) throw new DeployKeysError('--host-key: no ssh-ed25519 public key found', { hint: 'sops-nix needs the host\'s ed25519 host key', exitCode: 2 });
  const { sshPublicKeyToAgeRecipient } = await import('../../lib/age/index.js');
  return sshPublicKeyToAgeRecipient(key);
}

export const command: Command = {
  help: HELP,
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs(
      'vm-fresh',
      args,
      {
        'host-key': { type: 'string' },
        output: { type: 'string', short: 'o' },
        'dry-run': { type: 'boolean' },
        json: { type: 'boolean' },
        yes: { type: 'boolean', short: 'y' },
        manual: { type: 'boolean' },
      },
      { min: 1, max: 1, names: 'HOST' },
    );
    const host = assertHostName(positionals[0]);
    const recipient = values['host-key'] !== undefined ? await hostRecipient(values['host-key']) : undefined;
    const config = await ctx.config();
    const { wire, Lifecycle, hostResultJson, printHostResult } = await import('../../lib/lifecycle/index.js');
    const { confirmer } = await import('../confirm.js');
    const confirm = confirmer(ctx, Boolean(values.yes), false);
    const deps = await wire(config, ctx.env, ctx, { json: Boolean(values.json),
      manual: Boolean(values.manual),
      withActivation: true,
      ...(values.output ? { activationOut: values.output } : {}),
      ...(confirm ? { confirm } : {}),
    });
    await deps.forge.preflight(deps.repos);
    const res = await new Lifecycle(deps).vmFresh(host, { dryRun: Boolean(values['dry-run']), ...(recipient ? { hostRecipient: recipient } : {}) });
    if (values.json) printJson(ctx.stdout, hostResultJson(res));
    else printHostResult(ctx.stdout, ctx.stderr, res);
    return 0;
  },
};
