/**
 * `deploy-keys` entry point. Deliberately small: it parses the global flags,
 * then imports only the one command that runs, so `--help` and `sops decrypt`
 * never load Octokit or other heavy modules.
 */
import { DeployKeysError, describeUnknown, UsageError } from '../lib/errors.js';
import { debugOutputEnabled } from '../lib/process/index.js';
import type { Config } from '../lib/config/index.js';
import type { CliContext, Command } from './context.js';
import { cliStreams, style, type Streams } from './output.js';
import { version } from './version.js';

interface Entry {
  summary: string;
  load: () => Promise<{ command: Command }>;
}

/** The command table; summaries live here so `--help` loads nothing else. */
const COMMANDS: Record<string, Entry> = {
  'vm-fresh': { summary: 'Create (or complete) a host: keys, host file, forge registration, activation script', load: () => import('./commands/vm-fresh.js') },
  rotate: { summary: 'Rotate deploy keys without downtime (new keys first, old ones removed with --finish)', load: () => import('./commands/rotate.js') },
  revoke: { summary: 'Cut a compromised host off: forge keys, .sops.yaml recipient, host file', load: () => import('./commands/revoke.js') },
  status: { summary: 'Per host and repo: fingerprint, age, forge registration, last use', load: () => import('./commands/status.js') },
  check: { summary: "Prove each host's keys work: a read-only git ls-remote per repo through the host's aliases and pins", load: () => import('./commands/check.js') },
  audit: { summary: 'Find drift, unknown or stale keys; exit 1 when anything is wrong', load: () => import('./commands/audit.js') },
  activation: { summary: "Print a host's activation script (no secrets; fit for the Nix store)", load: () => import('./commands/activation.js') },
  activate: { summary: 'Run the activation script locally (e.g. into --root DIR) with decrypted keys on stdin', load: () => import('./commands/activate.js') },
  bootstrap: { summary: 'Install keys and clone repos on a fresh host over ssh', load: () => import('./commands/bootstrap.js') },
  'extra-files': { summary: "A new host's ssh host key (and deploy keys) for nixos-anywhere --extra-files", load: () => import('./commands/extra-files.js') },
  sops: { summary: 'SOPS files: decrypt, encrypt, set, updatekeys, rotate (compatible with the sops CLI)', load: () => import('./commands/sops.js') },
  keygen: { summary: 'Generate a standalone ED25519 deploy key pair', load: () => import('./commands/keygen.js') },
  'ssh-to-age': { summary: 'Convert an ssh-ed25519 public key to its age recipient', load: () => import('./commands/ssh-to-age.js') },
};

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  const lines = Object.entries(COMMANDS).map(([name, e]) => `  ${name.padEnd(width)}  ${e.summary}`);
  return `Usage: deploy-keys [--config FILE] <command> [options]

Per-host, per-repo, read-only deploy keys for NixOS fleets.

Commands:
${lines.join('\n')}

Global options:
  --config FILE   configuration file (default: $DEPLOY_KEYS_CONFIG, else ./deploy-keys.yaml)
  -h, --help      show help; "deploy-keys <command> --help" for a command
  --version       print the version

Exit status: 0 success, 1 failure, 2 usage error.
`;
}

export async function main(argv: string[], processStreams: Streams, env: NodeJS.ProcessEnv, cwd: string): Promise<number> {
  // Every line printed below, and by every command, goes through these writers (output.ts).
  const streams = cliStreams(processStreams, env);
  try {
    const debug = debugOutputEnabled(env);
    if (debug) {
      throw new UsageError(`${debug} is set: Node's debug output would print keys, tokens and decrypted data read from pipes and sockets`, `unset ${debug}; DEPLOY_KEYS_DEBUG=1 adds stack traces to internal errors`);
    }
    let configFlag: string | undefined;
    const args = [...argv];
    // Global options come before the command name.
    for (let a = args[0]; a?.startsWith('-'); a = args[0]) {
      args.shift();
      if (a === '-h' || a === '--help') {
        streams.stdout.write(mainHelp());
        return 0;
      }
      if (a === '--version') {
        streams.stdout.write(`${version()}\n`);
        return 0;
      }
      if (a === '--config') {
        configFlag = args.shift();
        if (!configFlag) throw new UsageError('--config needs a FILE');
      } else if (a.startsWith('--config=')) {
        configFlag = a.slice('--config='.length);
      } else {
        throw new UsageError(`unknown option ${a}`, 'see deploy-keys --help');
      }
    }
    const name = args.shift();
    if (name === undefined) {
      streams.stderr.write(mainHelp());
      return 2;
    }
    if (name === 'help') {
      streams.stdout.write(mainHelp());
      return 0;
    }
    const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (!entry) throw new UsageError(`unknown command ${JSON.stringify(name)}`, 'see deploy-keys --help');
    // A --config after the command name is accepted too.
    const rest: string[] = [];
    for (let a = args.shift(); a !== undefined; a = args.shift()) {
      if (a === '--') {
        rest.push(a, ...args);
        break;
      }
      if (a === '--config') {
        configFlag = args.shift();
        if (!configFlag) throw new UsageError('--config needs a FILE');
      } else if (a.startsWith('--config=')) configFlag = a.slice('--config='.length);
      else rest.push(a);
    }
    const { command } = await entry.load();
    // After "--" the words belong to another program (extra-files runs one).
    const own = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
    if (own.includes('-h') || own.includes('--help')) {
      streams.stdout.write(command.help.endsWith('\n') ? command.help : `${command.help}\n`);
      return 0;
    }
    let cached: Promise<Config> | undefined;
    const ctx: CliContext = {
      ...streams,
      env,
      cwd,
      configFlag,
      style,
      config() {
        // Loaded on demand: `sops`, `keygen` and `ssh-to-age` work without a config file.
        cached ??= import('../lib/config/index.js').then((m) => m.loadConfig(m.resolveConfigPath(configFlag, env, cwd)));
        return cached;
      },
    };
    return await command.run(rest, ctx);
  } catch (e) {
    if (e instanceof DeployKeysError) {
      streams.stderr.write(`${style.red('deploy-keys:')} ${e.oneLine()}\n`);
      return e.exitCode;
    }
    streams.stderr.write(`${style.red('deploy-keys: internal error:')} ${describeUnknown(e)}\n`);
    if (env.DEPLOY_KEYS_DEBUG) streams.stderr.write(`${e instanceof Error ? (e.stack ?? '') : ''}\n`);
    return 1;
  }
}
