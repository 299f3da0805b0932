import { readFile } from 'node:fs/promises';
import { parseCommandArgs } from '../args.js';
import type { Command } from '../context.js';
import { readStdin } from '../stdin.js';
import { DeployKeysError, describeUnknown, errnoCode } from '../../lib/errors.js';
import { writeFileAtomic } from '../../lib/fs/index.js';

const HELP = `Usage: deploy-keys ssh-to-age [PUBKEY-FILE|-]
       deploy-keys ssh-to-age --private-key [KEY-FILE|-] -o FILE

Converts an ssh-ed25519 public key (e.g. /etc/ssh/ssh_host_ed25519_key.pub, or
ssh-keyscan output) to the age recipient (age1…) that sops-nix derives from it,
the same value as the ssh-to-age tool. Reads standard input without a file or
with "-"; converts every ssh-ed25519 line and skips comments and other key types.

With --private-key, converts an OpenSSH ed25519 private key to its
AGE-SECRET-KEY-1… identity and writes it to FILE (0600); it is never printed.
`;

export const command: Command = {
  help: HELP,
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs('ssh-to-age', args, {
      'private-key': { type: 'boolean' },
      output: { type: 'string', short: 'o' },
    }, { min: 0, max: 1, names: 'FILE' });
    const src = positionals[0] ?? '-';
    const text = src === '-' ? await readStdin(ctx.stdin) : await readFile(src, 'utf8').catch((e: unknown) => {
      throw new DeployKeysError(`cannot read ${src}: ${errnoCode(e) ?? describeUnknown(e)}`, { hint: 'pass a readable key file, or - for standard input' });
    });
    const age = await import('../../lib/age/index.js');
    if (values['private-key']) {
      if (!values.output) throw new DeployKeysError('ssh-to-age --private-key needs -o FILE', { hint: 'the identity is secret and is never printed', exitCode: 2 });
      await writeFileAtomic(values.output, `${age.sshPrivateKeyToAgeIdentity(text)}\n`, { mode: 0o600 });
      return 0;
    }
    const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    // ssh-keyscan prints "host ssh-ed25519 AAAA…": drop a leading host field.
    const keys = lines.map((l) => l.replace(/^(?!ssh-|ecdsa-|sk-)\S+\s+/, '')).filter((l) => l.startsWith('ssh-ed25519 '));
    if (keys.length === 0) {
      throw new DeployKeysError(`${src === '-' ? 'standard input' : src}: no ssh-ed25519 public key found`, { hint: 'pass the host\'s /etc/ssh/ssh_host_ed25519_key.pub' });
    }
    for (const k of keys) ctx.stdout.write(`${await age.sshPublicKeyToAgeRecipient(k)}\n`);
    return 0;
  },
};
