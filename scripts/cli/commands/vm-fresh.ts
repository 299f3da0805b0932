import { readFile } from 'node:fs/promises';
import { parseCommandArgs } from '../args.js';
import type { Command } from '../context.js';
import { CHANGE_OPTIONS, eachHost } from '../host-commands.js';
import { printJson } from '../output.js';
import { DeployKeysError, UsageError, describeUnknown, errnoCode } from '../../lib/errors.js';
import { assertHostName } from '../../lib/names.js';

const HELP = `Usage: deploy-keys vm-fresh <host>… [--host-key FILE|PUB | --new-host-key [--force]] [-o FILE] [--dry-run] [--json] [--yes] [--manual]

Creates, or completes, a host: one read-only ED25519 deploy key per repo the
config gives the host (every repo, unless repos.<name>.hosts / except choose),
stored encrypted in <secrets_dir>/<host>.yaml (other keys in that file are
kept), registered on the forge, and the host's activation script.

A repo the config no longer gives the host loses its key: deleted on the forge
first, then from the host file. Deletions are shown by --dry-run and need a
confirmation (--yes without a terminal).

Re-running for a complete host changes nothing and makes no forge write. An
interrupted run is finished by running the same command again.

Several hosts in one run (vm-fresh web-01 web-02 …) share one forge preflight
and one listing per repo, so a fleet costs one listing per repo, not one per
host; a host that fails is reported and the others still run (exit 1).

Options:
  --host-key FILE|PUB  the host's ssh-ed25519 public key (file, or the key line):
                       its age recipient is added to .sops.yaml (a creation rule
                       for the host's file) and the host file is re-keyed; one
                       host only
  --new-host-key       a host not installed yet: generate its ssh host key here,
                       store it in <secrets_dir>/host-keys/<host>.yaml (encrypted
                       for the operators only: a .sops.yaml rule of its own, added
                       when missing), and use its age recipient as --host-key
                       would. Install it with "deploy-keys extra-files" and
                       nixos-anywhere: the first boot decrypts with it. Running
                       it again keeps the stored key
  --force              with --new-host-key: replace the host's existing key (stored,
                       or its recipient in .sops.yaml). Every file encrypted for the
                       old key is re-keyed, known_hosts entries for the host break,
                       and the host cannot decrypt its secrets until it has the new
                       key; asks first (without a terminal: needs --yes)
  -o, --output FILE    activation script path (default <secrets_dir>/../activation/<host>.sh);
                       one host only
  --dry-run            print the plan (files, keys, forge calls); change nothing
  --json               machine-readable result on stdout: the host's result, or
                       with several hosts {"results": […], "failures": […]}
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
        ...CHANGE_OPTIONS,
        'new-host-key': { type: 'boolean' },
        force: { type: 'boolean' },
      },
      { min: 1, max: Infinity, names: 'HOST' },
    );
    const hosts = positionals.map((h) => assertHostName(h));
    if (hosts.length > 1 && (values['host-key'] !== undefined || values.output !== undefined)) {
      throw new UsageError('vm-fresh: --host-key and --output name one host\'s key and script; give one host with them', 'see deploy-keys vm-fresh --help');
    }
    if (new Set(hosts).size !== hosts.length) throw new UsageError('vm-fresh: a host is named twice');
    const newHostKey = Boolean(values['new-host-key']);
    if (newHostKey && values['host-key'] !== undefined) throw new UsageError('vm-fresh: --host-key and --new-host-key exclude each other', 'see deploy-keys vm-fresh --help');
    if (values.force && !newHostKey) throw new UsageError('vm-fresh: --force goes with --new-host-key', 'see deploy-keys vm-fresh --help');
    const recipient = values['host-key'] !== undefined ? await hostRecipient(values['host-key']) : undefined;
    const config = await ctx.config();
    const { wire, Lifecycle, hostResultJson } = await import('../../lib/lifecycle/index.js');
    const { confirmer } = await import('../confirm.js');
    // Any deletion in the plan (a replaced host key, a repo the host no longer gets) needs --yes without a terminal.
    const confirm = confirmer(ctx, Boolean(values.yes));
    const deps = await wire(config, ctx.env, ctx, { json: Boolean(values.json),
      manual: Boolean(values.manual),
      withActivation: true,
      ...(values.output ? { activationOut: values.output } : {}),
      ...(confirm ? { confirm } : {}),
    });
    // A host no repo selects: the config's error, before any forge call.
    for (const host of hosts) deps.reposFor(host, { required: true });
    // One preflight and one listing per repo for every host of the run.
    const lc = new Lifecycle(deps);
    await lc.preflight();
    const dryRun = Boolean(values['dry-run']);
    const { results, failures } = await eachHost(ctx, hosts, Boolean(values.json), (host) =>
      lc.vmFresh(host, {
        dryRun,
        ...(recipient ? { hostRecipient: recipient } : {}),
        ...(newHostKey ? { newHostKey: { force: Boolean(values.force) } } : {}),
      }),
    );
    if (values.json) {
      const [one] = results;
      printJson(ctx.stdout, hosts.length === 1 && one ? hostResultJson(one) : { results: results.map(hostResultJson), failures });
    } else if (newHostKey && !dryRun) {
      // The key is only useful once installed: the one step left.
      for (const { host } of results) ctx.stdout.write(`next: install ${host} with its host key: deploy-keys extra-files ${host} -- nixos-anywhere --flake <config>#${host} --target-host root@<address> (or --out DIR)\n`);
    }
    return failures.length ? 1 : 0;
  },
};
