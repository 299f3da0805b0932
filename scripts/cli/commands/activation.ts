import { parseCommandArgs } from '../args.js';
import type { Command } from '../context.js';
import { describeHostScript, renderHostScript, SCRIPT_OPTIONS, SCRIPT_OPTIONS_HELP, warnAboutFlakeInputs } from '../host-script.js';
import { writeFileAtomic } from '../../lib/fs/index.js';

const HELP = `Usage: deploy-keys activation <host> [-o FILE] [options]

Prints the host's activation script: one POSIX sh script, holding no secret
(it may live in the Nix store), that installs ~/.ssh/<repo>-deploy keys, a
managed ~/.ssh/config block with "Host <forge-host>-<repo>" aliases and pinned
host keys, git's ssh command for the keys (so git and Nix fetch the repos'
usual ssh URLs through them, as root whatever HOME is), and clones the repos
through the aliases. The script holds only the repos the config gives the
host (every repo, unless repos.<name>.hosts / except choose). Run the script
with --help for its own options
(--keys-dir, --keys-stdin, --root, --pull, --no-clone, --no-git-ssh).

Warns about inputs in flake.lock / flake.nix beside the config that name a
managed repo as github:owner/repo or https: Nix fetches those without ssh,
so the deploy keys cannot serve them (write git+ssh://git@host/owner/repo).

Options:
  -o, --output FILE  write the script to FILE (0755, atomically) instead of standard output
  --json             print the script's inputs as JSON instead: the file the NixOS
                     module's services.deploy-keys.descriptionFile option reads
${SCRIPT_OPTIONS_HELP}
`;

export const command: Command = {
  help: HELP,
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs('activation', args, { output: { type: 'string', short: 'o' }, json: { type: 'boolean' }, ...SCRIPT_OPTIONS }, { min: 1, max: 1, names: '<host>' });
    const config = await ctx.config();
    const script = values.json
      ? `${JSON.stringify(await describeHostScript(config, positionals[0], values), null, 2)}\n`
      : await renderHostScript(config, positionals[0], values);
    await warnAboutFlakeInputs(config, ctx);
    if (values.output) await writeFileAtomic(values.output, script, { mode: values.json ? 0o644 : 0o755 });
    // The script is a file's content, printed verbatim; the description is text like any --json.
    else (values.json ? ctx.stdout : ctx.data).write(script);
    return 0;
  },
};
