import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseCommandArgs } from '../args.js';
import type { CliContext, Command } from '../context.js';
import { decryptHostKeys, renderHostScript } from '../host-script.js';
import { printJson } from '../output.js';
import type { Config } from '../../lib/config/index.js';
import { DeployKeysError, UsageError } from '../../lib/errors.js';
import type { Listing, TreeOptions } from '../../lib/extra-files/index.js';
import { assertHostName } from '../../lib/names.js';

const HELP = `Usage: deploy-keys extra-files <host> --out DIR [options]
       deploy-keys extra-files <host> [options] -- nixos-anywhere ARGS...
       deploy-keys extra-files --cleanup DIR

Writes the tree nixos-anywhere copies onto a new host with --extra-files: the
host's ssh host key, made by "deploy-keys vm-fresh <host> --new-host-key"
(etc/ssh/ssh_host_ed25519_key 0600, its .pub 0644, directories 0755), and with
--deploy-keys root's deploy keys too. The host boots with the identity its
host file is already encrypted for: sops-nix decrypts it at the first
activation, the NixOS module installs the keys and clones the repos.

nixos-anywhere copies the tree as root with tar --no-same-owner: files arrive
owned by root with the modes they have here, and each directory's mode is
applied to the host's directory of the same name (so etc/ is 0755). Nothing
in it needs --chown; --copy-host-keys is not needed (it skips a key the tree
brings).

With -- COMMAND ARGS..., the tree goes into a private temp directory
($XDG_RUNTIME_DIR, else $TMPDIR or /tmp), COMMAND runs with "--extra-files
DIR" appended, and the directory is removed when COMMAND exits, fails, or on
Ctrl-C/SIGTERM (forwarded to COMMAND); one left by a SIGKILL is removed by the
next run. COMMAND gets your environment without SOPS_AGE_KEY*, the GitHub
App key variable or the forge token's. With --out DIR, the tree stays in DIR
(made 0700, written whole or not at all) until "deploy-keys extra-files
--cleanup DIR", and the nixos-anywhere command is printed.

Options:
  --out DIR            write the tree into DIR (must not exist) and print the command
  --cleanup DIR        remove a tree --out wrote (refuses any other directory)
  --deploy-keys        also root's deploy keys, ~/.ssh/config aliases, pinned forge
                       keys and git's ssh command (/root/.ssh, /etc/gitconfig), written
                       by the host's activation script itself (not needed with the
                       NixOS module, which installs them at the first activation)
  --no-git-ssh         with --deploy-keys: without git's ssh command
  --repo NAME          with --deploy-keys: only this repo (repeatable)
  --host-key-path PATH where the key goes on the host (default
                       /etc/ssh/ssh_host_ed25519_key; with impermanence e.g.
                       /persist/etc/ssh/ssh_host_ed25519_key, which
                       services.openssh.hostKeys and sops.age.sshKeyPaths must name)
  --flake REF          the printed command's --flake (default .#<host>)
  --target USER@ADDR   the printed command's --target-host (default root@<host>),
                       and the name --known-hosts pins
  --port N             the installed host's ssh port (default 22)
  --known-hosts FILE   pin the host key for --target in FILE (e.g. ~/.ssh/known_hosts);
                       an older ssh-ed25519 key for that name, plain or hashed, is removed
  --json               with --out: machine-readable result on stdout

The age identity that decrypts the host key comes from SOPS_AGE_KEY,
SOPS_AGE_KEY_FILE or ~/.config/sops/age/keys.txt (never from the command line).
`;

interface Prepared {
  tree: TreeOptions;
  hostKey: { publicKey: string; fingerprint: string; recipient: string };
}

/** Decrypts the host key (and deploy keys) after checking the host file is encrypted for it. */
async function prepare(ctx: CliContext, config: Config, host: string, values: { 'deploy-keys'?: boolean | undefined; 'no-git-ssh'?: boolean | undefined; repo?: string[] | undefined; 'host-key-path'?: string | undefined }): Promise<Prepared> {
  const { FileStateStore, SopsHostKeys, SopsHostSecrets, hostKeyInfo } = await import('../../lib/lifecycle/index.js');
  const { DEFAULT_HOST_KEY_PATH, pathComponents } = await import('../../lib/extra-files/index.js');
  const keyPath = values['host-key-path'] ?? DEFAULT_HOST_KEY_PATH;
  pathComponents(keyPath, '--host-key-path');
  const store = new SopsHostKeys(config, ctx.env);
  const privateKey = await store.privateKey(host);
  if (privateKey === undefined) {
    throw new DeployKeysError(`no ssh host key stored for ${host} (${store.path(host)})`, { hint: `make one first: deploy-keys vm-fresh ${host} --new-host-key` });
  }
  const info = await hostKeyInfo(privateKey, store.path(host));
  const state = await new FileStateStore(config.secretsDir).load(host);
  if (state?.revoked || state?.revokedRecipients?.includes(info.recipient)) {
    throw new DeployKeysError(`${host} is revoked; its stored host key is never installed again`, { hint: `provision it anew: deploy-keys vm-fresh ${host} --new-host-key --force` });
  }
  // The point of it all: the first boot decrypts the host file with this key.
  const secrets = new SopsHostSecrets(config, ctx.env);
  if (!(await secrets.recipients(host))?.includes(info.recipient)) {
    throw new DeployKeysError(`${secrets.path(host)} is not encrypted for ${host}'s host key (${info.recipient}): the host could not decrypt it`, { hint: `run deploy-keys vm-fresh ${host} --new-host-key` });
  }
  const gitSsh = !values['no-git-ssh'];
  const deployKeys = values['deploy-keys']
    ? {
        script: await renderHostScript(config, host, { 'no-git-ssh': !gitSsh, ...(values.repo ? { repo: values.repo } : {}) }),
        keys: await decryptHostKeys(config, host, ctx.env, values.repo),
        gitSsh,
      }
    : undefined;
  return { tree: { hostKey: { privateKey, publicKey: info.publicKey, path: keyPath }, ...(deployKeys ? { deployKeys } : {}) }, hostKey: info };
}

function describeListing(listing: Listing): string {
  const width = Math.max(...listing.map((e) => e.path.length));
  return listing.map((e) => `  ${(e.kind === 'dir' ? `${e.path}/` : e.path).padEnd(width + 1)}  ${e.mode.toString(8).padStart(4, '0')}\n`).join('');
}

/** --known-hosts FILE: pins the key for the target's name; returns that name. */
async function pin(file: string, name: string, publicKey: string): Promise<boolean> {
  const { pinHostKey } = await import('../../lib/extra-files/index.js');
  const { writeFileAtomic } = await import('../../lib/fs/index.js');
  const before = await fs.readFile(file, 'utf8').catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw new DeployKeysError(`--known-hosts ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  });
  const { text, changed } = pinHostKey(before, name, publicKey);
  // known_hosts holds no secret: a new one is 0644 like ssh's; an existing one keeps its mode.
  if (changed) await writeFileAtomic(file, text, before === '' ? { mode: 0o644 } : {});
  return changed;
}

/** Runs COMMAND ARGS... --extra-files DIR; resolves with its exit code, or its signal. */
function runInstaller(argv: readonly string[], dir: string, env: Record<string, string>, started: (c: ChildProcess) => void): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined) throw new UsageError('extra-files: nothing to run after --', 'e.g. -- nixos-anywhere --flake .#web-01 --target-host root@192.0.2.10');
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...rest, '--extra-files', dir], { stdio: 'inherit', env });
    started(child);
    child.once('error', (e: NodeJS.ErrnoException) => {
      reject(new DeployKeysError(`cannot run ${cmd}: ${e.code === 'ENOENT' ? 'not found' : (e.code ?? e.message)}`, { hint: 'install nixos-anywhere, or run it through nix: -- nix run github:nix-community/nixos-anywhere -- ...' }));
    });
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/** Where the run mode keeps its tree: a per-user tmpfs when there is one. */
async function tempParent(env: NodeJS.ProcessEnv): Promise<string> {
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime && path.isAbsolute(runtime)) {
    const st = await fs.stat(runtime).catch(() => undefined);
    if (st?.isDirectory()) return runtime;
  }
  return os.tmpdir();
}

export const command: Command = {
  help: HELP,
  async run(allArgs, ctx) {
    const dash = allArgs.indexOf('--');
    const args = dash < 0 ? allArgs : allArgs.slice(0, dash);
    const installer = dash < 0 ? undefined : allArgs.slice(dash + 1);
    const { values, positionals } = parseCommandArgs(
      'extra-files',
      args,
      {
        out: { type: 'string' },
        cleanup: { type: 'string' },
        'deploy-keys': { type: 'boolean' },
        'no-git-ssh': { type: 'boolean' },
        repo: { type: 'string', multiple: true },
        'host-key-path': { type: 'string' },
        flake: { type: 'string' },
        target: { type: 'string' },
        port: { type: 'string' },
        'known-hosts': { type: 'string' },
        json: { type: 'boolean' },
      },
      { min: 0, max: 1, names: '<host>' },
    );
    const lib = await import('../../lib/extra-files/index.js');
    if (values.cleanup !== undefined) {
      if (positionals.length || values.out !== undefined || installer) throw new UsageError('extra-files: --cleanup DIR takes nothing else', 'see deploy-keys extra-files --help');
      await lib.removeTree(path.resolve(ctx.cwd, values.cleanup));
      ctx.stdout.write(`removed ${values.cleanup}\n`);
      return 0;
    }
    const [hostArg] = positionals;
    if (hostArg === undefined) throw new UsageError('extra-files: missing <host>', 'see deploy-keys extra-files --help');
    const host = assertHostName(hostArg);
    if ((values.out === undefined) === (installer === undefined)) throw new UsageError('extra-files: give either --out DIR or -- COMMAND ARGS...', 'see deploy-keys extra-files --help');
    if (installer?.includes('--extra-files')) throw new UsageError('extra-files: the command after -- must not have its own --extra-files', 'deploy-keys appends it');
    if (values.json && installer) throw new UsageError('extra-files: --json goes with --out', 'see deploy-keys extra-files --help');
    if (!values['deploy-keys'] && (values['no-git-ssh'] || values.repo)) throw new UsageError('extra-files: --no-git-ssh and --repo go with --deploy-keys', 'see deploy-keys extra-files --help');
    const port = values.port === undefined ? undefined : Number(values.port);
    const target = lib.installTarget(values.target ?? `root@${host}`, port);
    if (values['known-hosts'] !== undefined && values.target === undefined) throw new UsageError('extra-files: --known-hosts needs --target USER@ADDR (the name to pin)', 'e.g. --target root@192.0.2.10');
    const config = await ctx.config();
    const prepared = await prepare(ctx, config, host, values);
    const hk = prepared.hostKey;

    const pinned = values['known-hosts'] === undefined ? undefined : { file: values['known-hosts'], changed: await pin(values['known-hosts'], target.knownHostsName, hk.publicKey) };
    const pinText = pinned
      ? `${pinned.changed ? 'pinned' : 'already pinned'} ${host}'s host key for ${target.knownHostsName} in ${pinned.file}\n`
      : `pin it where you ssh from: "${target.knownHostsName} ${hk.publicKey.split(' ').slice(0, 2).join(' ')}" (or --known-hosts FILE)\n`;
    const keyText = `${host}'s ssh host key: ${hk.publicKey} (${hk.fingerprint})\n`;

    if (values.out !== undefined) {
      const out = path.resolve(ctx.cwd, values.out);
      if (await fs.lstat(out).then(() => true, () => false)) throw new DeployKeysError(`--out ${values.out} exists`, { hint: 'name a new directory: the tree must hold nothing else' });
      const { withSecretTempDir } = await import('../../lib/fs/index.js');
      // Written whole in a temp directory and renamed: a failure or a kill never leaves half a tree at DIR.
      const listing = await withSecretTempDir(path.dirname(out), 'extra-files', async (dir) => {
        const l = await lib.writeTree(dir, prepared.tree);
        await fs.rename(dir, out);
        return l;
      });
      const argv = lib.nixosAnywhereArgv(out, values.flake ?? `.#${host}`, target);
      if (values.json) {
        printJson(ctx.stdout, {
          host,
          dir: out,
          files: listing.map((e) => ({ ...e, mode: e.mode.toString(8).padStart(4, '0') })),
          command: argv,
          hostKey: hk,
          ...(pinned ? { knownHosts: { file: pinned.file, name: target.knownHostsName, changed: pinned.changed } } : {}),
        });
        return 0;
      }
      ctx.stdout.write(`extra files for ${host} in ${out} (secret: remove them after the install):\n${describeListing(listing)}`);
      ctx.stdout.write(`install with:\n  ${lib.shellLine(argv)}\nthen remove the tree:\n  deploy-keys extra-files --cleanup ${lib.shellLine([out])}\n${keyText}${pinText}`);
      return 0;
    }

    const { withSecretTempDir } = await import('../../lib/fs/index.js');
    let child: ChildProcess | undefined;
    const result = await withSecretTempDir(
      await tempParent(ctx.env),
      'extra-files',
      async (dir) => {
        const listing = await lib.writeTree(dir, prepared.tree);
        ctx.stderr.write(`deploy-keys: extra files for ${host} in ${dir} (removed when the command exits):\n${describeListing(listing)}`);
        const { operatorCommandEnv } = await import('../../lib/process/index.js');
        const { forgeTokenEnv } = await import('../../lib/config/index.js');
        return runInstaller(installer ?? [], dir, operatorCommandEnv(ctx.env, forgeTokenEnv(config.forge)), (c) => (child = c));
      },
      {
        // Forwarded, then the tree goes once the installer is gone.
        async onSignal(sig) {
          const c = child;
          // Not started, or gone already: nothing to wait for.
          if (c?.exitCode !== null || c.signalCode !== null) return;
          const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()));
          c.kill(sig);
          await gone;
        },
      },
    );
    ctx.stderr.write(`deploy-keys: removed the extra files\n`);
    ctx.stdout.write(`${keyText}${pinText}`);
    if (result.code !== 0) {
      throw new DeployKeysError(`${installer?.[0] ?? 'the command'} ${result.signal ? `was killed by ${result.signal}` : `exited with ${String(result.code)}`}`, { hint: 'see its messages above; the extra files are removed, re-running is safe' });
    }
    return 0;
  },
};
