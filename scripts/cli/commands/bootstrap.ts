import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseCommandArgs } from '../args.js';
import type { Command } from '../context.js';
import { decryptHostKeys, renderHostScript, SCRIPT_OPTIONS, SCRIPT_OPTIONS_HELP, warnAboutFlakeInputs } from '../host-script.js';
import type { Config } from '../../lib/config/index.js';
import { DeployKeysError, UsageError } from '../../lib/errors.js';
import { assertHostName } from '../../lib/names.js';

const HELP = `Usage: deploy-keys bootstrap <host> --target USER@ADDR [--port N] [--host-key FILE] [options]

Installs the host's deploy keys and clones its repos on a fresh machine over
ssh (e.g. right after nixos-anywhere, before the first nixos-rebuild). The
script and the decrypted keys travel on the ssh connection's standard input;
the keys are written nowhere on the remote disk but ~/.ssh.

The target's host key is checked strictly: with --host-key FILE (the host's
ssh_host_ed25519_key.pub) it is pinned for this connection, else the key
"vm-fresh --new-host-key" made for the host is, otherwise it must already be
in your known_hosts. Never trust-on-first-use.

Options:
  --target USER@ADDR  where to connect (required)
  --port N            ssh port (default 22)
  --host-key FILE     pin the target's host public key (default: the one
                      vm-fresh --new-host-key made, if any)
  --identity FILE     your ssh key for the target (ssh -i)
  --root DIR          prefix paths on the target (e.g. /mnt during installation)
  --no-clone          keys and ssh config only
${SCRIPT_OPTIONS_HELP}
`;

async function pinFromFile(file: string): Promise<string> {
  const pub = (await readFile(file, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
  if (!/^(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa) [A-Za-z0-9+/]+=*$/.test(pub)) {
    throw new DeployKeysError(`${file}: not an ssh public key`, { hint: "pass the host's /etc/ssh/ssh_host_ed25519_key.pub" });
  }
  return pub;
}

/** The host key vm-fresh --new-host-key made (its public half, from the host's public state). */
async function generatedHostKey(config: Config, host: string): Promise<string | undefined> {
  const { FileStateStore } = await import('../../lib/lifecycle/index.js');
  const key = (await new FileStateStore(config.secretsDir).load(host))?.hostKey?.publicKey;
  return key?.split(' ').slice(0, 2).join(' ');
}

export const command: Command = {
  help: HELP,
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs('bootstrap', args, {
      target: { type: 'string' },
      port: { type: 'string' },
      'host-key': { type: 'string' },
      identity: { type: 'string' },
      root: { type: 'string' },
      'no-clone': { type: 'boolean' },
      ...SCRIPT_OPTIONS,
    }, { min: 1, max: 1, names: '<host>' });
    if (!values.target) throw new UsageError('bootstrap: --target USER@ADDR is required');
    const port = values.port === undefined ? undefined : Number(values.port);
    if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) throw new UsageError(`bootstrap: --port ${JSON.stringify(values.port)} must be 1-65535`);
    const host = assertHostName(positionals[0]);
    const config = await ctx.config();
    const script = await renderHostScript(config, host, values);
    await warnAboutFlakeInputs(config, ctx);
    const keys = await decryptHostKeys(config, host, ctx.env, values.repo);
    const sshOptions = ['-o', 'StrictHostKeyChecking=yes'];
    if (values.identity) sshOptions.push('-i', values.identity, '-o', 'IdentitiesOnly=yes');
    let pinDir: string | undefined;
    try {
      const pub = values['host-key'] === undefined ? await generatedHostKey(config, host) : await pinFromFile(values['host-key']);
      if (pub !== undefined) {
        pinDir = await mkdtemp(path.join(tmpdir(), 'deploy-keys-pin-'));
        const addr = values.target.replace(/^.*@/, '');
        const known = path.join(pinDir, 'known_hosts');
        await writeFile(known, `${port && port !== 22 ? `[${addr}]:${port}` : addr} ${pub}\n`, { mode: 0o600 });
        sshOptions.push('-o', `UserKnownHostsFile=${known}`, '-o', 'GlobalKnownHostsFile=/dev/null');
      }
      const { bootstrapOverSsh } = await import('../../lib/activation/index.js');
      const flags = [...(values.root ? ['--root', values.root] : []), ...(values['no-clone'] ? ['--no-clone'] : [])];
      const r = await bootstrapOverSsh({ script, target: values.target, keys, sshOptions, args: flags, parentEnv: ctx.env, ...(port !== undefined ? { port } : {}) });
      ctx.stdout.write(r.stdout);
      ctx.stderr.write(r.stderr);
      if (r.exitCode !== 0) {
        throw new DeployKeysError(`bootstrap of ${host} on ${values.target} failed${r.failed.length ? ` for: ${r.failed.join(' ')}` : ` (exit ${r.exitCode})`}`, { hint: 'see the messages above; re-running is safe' });
      }
      return 0;
    } finally {
      if (pinDir) await rm(pinDir, { recursive: true, force: true });
    }
  },
};
