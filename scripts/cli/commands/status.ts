import { parseCommandArgs } from '../args.js';
import type { Command } from '../context.js';
import { printJson } from '../output.js';
import { assertHostName } from '../../lib/names.js';

const HELP = `Usage: deploy-keys status [HOST…] [--json]

Per host and repo: the key's fingerprint, age, forge id, registration
(registered, pending, missing, stored), read_only, enabled, last_used and
rotation state (none, due, in-progress, awaiting-finish). A key of a repo the
config no longer gives the host (repos.<name>.hosts) is listed as such: the
next vm-fresh or rotate removes it. Reads only public
data (the state files in <secrets_dir>/deploy-keys-state and one listing per
repo); no age identity needed. Without HOST: every provisioned host.

Options:
  --json   machine-readable: {"$schema", "schema_version", "hosts": [{"host",
           "revoked", "interrupted", "rows": [...]}], "missing": [...]},
           described by schemas/status.schema.json (JSON Schema, shipped
           with the package)
`;

export const command: Command = {
  help: HELP,
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs('status', args, { json: { type: 'boolean' } }, { min: 0, max: Infinity, names: 'HOST' });
    const hosts = positionals.map((h) => assertHostName(h));
    const config = await ctx.config();
    const { wire, ForgeCache, collectStatus, printStatus, statusJson } = await import('../../lib/lifecycle/index.js');
    const deps = await wire(config, ctx.env, ctx, { json: Boolean(values.json) });
    const { hosts: rows, missing } = await collectStatus(deps, new ForgeCache(deps.forge), hosts, config.rotation.maxAgeDays);
    if (values.json) printJson(ctx.stdout, statusJson(rows, missing));
    else printStatus(ctx.stdout, rows, missing);
    return missing.length && hosts.length ? 1 : 0;
  },
};
