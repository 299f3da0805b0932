import { access } from 'node:fs/promises';
import { parseCommandArgs } from '../args.js';
import type { Command } from '../context.js';
import { printJson } from '../output.js';
import { DeployKeysError, UsageError } from '../../lib/errors.js';
import { writeFileAtomic } from '../../lib/fs/index.js';
import { assertHostName, assertRepoName, deployKeyTitle } from '../../lib/names.js';

const HELP = `Usage: deploy-keys keygen -f FILE [--host HOST --repo REPO | --comment TEXT] [--force] [--json]

Generates a standalone ED25519 key pair, the same kind vm-fresh makes.
The private key goes to FILE (mode 0600, written atomically), the public key
to FILE.pub and to standard output. The private key is never printed.

Options:
  -f, --file FILE     where to write the private key (required)
  --host HOST         with --repo: comment "<host>-<repo>-deploy"
  --repo REPO
  -C, --comment TEXT  comment instead of the host/repo title
  --force             replace an existing FILE
  --json              print {publicKey, fingerprint, file} instead
`;

export const command: Command = {
  help: HELP,
  async run(args, ctx) {
    const { values } = parseCommandArgs('keygen', args, {
      file: { type: 'string', short: 'f' },
      host: { type: 'string' },
      repo: { type: 'string' },
      comment: { type: 'string', short: 'C' },
      force: { type: 'boolean' },
      json: { type: 'boolean' },
    }, { min: 0, max: 0, names: '' });
    if (!values.file) throw new UsageError('keygen: -f FILE is required (the private key is never printed)', 'see deploy-keys keygen --help');
    const { host, repo } = values;
    if ((host === undefined) !== (repo === undefined)) throw new UsageError('keygen: --host and --repo go together');
    if (host !== undefined && values.comment !== undefined) throw new UsageError('keygen: use either --host/--repo or --comment');
    const comment = host !== undefined && repo !== undefined
      ? deployKeyTitle(assertHostName(host), assertRepoName(repo))
      : values.comment ?? 'deploy-key';
    if (!values.force) {
      for (const f of [values.file, `${values.file}.pub`]) {
        const exists = await access(f).then(() => true, () => false);
        if (exists) throw new DeployKeysError(`${f} already exists`, { hint: 'pass --force to replace it, or choose another -f FILE' });
      }
    }
    const { generateDeployKey } = await import('../../lib/keys/index.js');
    const key = generateDeployKey(comment);
    await writeFileAtomic(values.file, key.privateKey, { mode: 0o600 });
    await writeFileAtomic(`${values.file}.pub`, `${key.publicKey}\n`, { mode: 0o644 });
    if (values.json) printJson(ctx.stdout, { file: values.file, publicKey: key.publicKey, fingerprint: key.fingerprint });
    else {
      ctx.stdout.write(`${key.publicKey}\n`);
      ctx.stderr.write(`${key.fingerprint} written to ${values.file} (0600) and ${values.file}.pub\n`);
    }
    return 0;
  },
};
