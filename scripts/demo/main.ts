/**
 * `just demo`: the whole life of a host on one machine, with no token and no
 * prompt. A workspace in .demo/ gets its own age identity and .sops.yaml; a
 * local sshd serves two bare repos (the `ssh` forge provider); then the real
 * CLI runs vm-fresh, activates the host into a sandbox, clones through the
 * aliases and shows status. Without sshd it falls back to the manual provider.
 */
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { $, type LogEntry } from 'zx';
import { shQuote } from '../lib/activation/index.js';
import { startGitServer, sshdAvailable, type GitServer } from './local-git-server.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const cli = path.join(repoRoot, 'dist/scripts/cli/bin.js');
const work = path.join(repoRoot, '.demo');
const HOST = 'demo-host';
const REPOS = ['nix-config', 'nix-secrets'];
const bold = (s: string) => (process.stdout.isTTY && process.env.NO_COLOR === undefined ? `\x1b[1m${s}\x1b[0m` : s);

function step(title: string): void {
  process.stdout.write(`\n${bold(`== ${title}`)}\n`);
}

/** A shell session on stdout: each command, then what it printed (one stream, so in order). */
function echo(entry: LogEntry): void {
  if (entry.kind === 'cmd') process.stdout.write(`$ ${entry.cmd}\n`);
  else if (entry.kind === 'stdout' || entry.kind === 'stderr') process.stdout.write(entry.data);
}

/**
 * The shell the demo types into: in .demo/, the real CLI on PATH as `deploy-keys`
 * (a two-line wrapper in .demo/bin), every command and its output echoed, and a
 * failing command ends the demo.
 */
async function demoShell(env: NodeJS.ProcessEnv) {
  const bin = path.join(work, 'bin');
  await fs.mkdir(bin, { recursive: true });
  await fs.writeFile(path.join(bin, 'deploy-keys'), `#!/bin/sh\nexec ${shQuote(process.execPath)} ${shQuote(cli)} "$@"\n`, { mode: 0o755 });
  return $({
    cwd: work,
    env: { ...env, PATH: `${bin}:${process.env.PATH ?? ''}`, GIT_CONFIG_GLOBAL: '/dev/null' },
    stdio: ['ignore', 'pipe', 'pipe'],
    verbose: true,
    log: echo,
  });
}

async function main(): Promise<void> {
  if (!existsSync(cli)) throw new Error('dist/ is missing: run `npm install` (or `just build`) first');
  await fs.rm(work, { recursive: true, force: true });
  await fs.mkdir(path.join(work, 'sops'), { recursive: true, mode: 0o700 });

  step('Operator identity and .sops.yaml');
  const identity = await generateX25519Identity();
  const recipient = await identityToRecipient(identity);
  const keyFile = path.join(work, 'operator-age-key.txt');
  await fs.writeFile(keyFile, `# demo operator identity\n${identity}\n`, { mode: 0o600 });
  await fs.writeFile(
    path.join(work, '.sops.yaml'),
    `# Recipients of the host files. vm-fresh --host-key adds each host's own key.\nkeys:\n  - &operator ${recipient}\ncreation_rules:\n  - path_regex: ^sops/[^/]+\\.yaml$\n    key_groups:\n      - age:\n          - *operator\n`,
  );
  process.stdout.write(`operator recipient ${recipient} (identity in .demo/operator-age-key.txt, 0600)\n`);

  const isRoot = process.getuid?.() === 0;
  const user = isRoot ? 'root' : os.userInfo().username;
  const home = isRoot ? '/root' : `/home/${user}`;
  let server: GitServer | undefined;
  try {
    step('Forge');
    let forgeYaml: string;
    let repoUrls: string[];
    let knownHosts = '[]';
    if (sshdAvailable()) {
      // In a temp dir, not .demo/: sshd reads it as the `git` user, who may not
      // be able to enter the checkout's directory (e.g. under /root).
      const srv = await startGitServer({ repos: REPOS.map((r) => `acme/${r}`) });
      server = srv;
      forgeYaml = `  type: ssh\n  authorized_keys: ${srv.authorizedKeys}\n`;
      repoUrls = REPOS.map((r) => srv.repoUrl(`acme/${r}`));
      knownHosts = `\n  - "${server.knownHostsLine()}"`;
      process.stdout.write(`local sshd on 127.0.0.1:${server.port} (user ${server.user}) serving ${REPOS.map((r) => `acme/${r}`).join(', ')}; host key pinned\n`);
    } else {
      forgeYaml = '  type: manual\n';
      repoUrls = REPOS.map((r) => `git@github.com:acme/${r}.git`);
      process.stdout.write('sshd is not available here: using the manual provider (keys are listed as a checklist and recorded as pending; nothing is cloned)\n');
    }
    await fs.writeFile(
      path.join(work, 'deploy-keys.yaml'),
      `secrets_dir: sops\nforge:\n${forgeYaml}known_hosts: ${knownHosts}\nrepos:\n${REPOS.map((r, i) => `  ${r}:\n    url: ${repoUrls[i]}\n    clone_to: ${home}/${r}\n`).join('')}rotation:\n  max_age_days: 90\n`,
    );
    const env: NodeJS.ProcessEnv = { ...process.env, SOPS_AGE_KEY_FILE: keyFile, NO_COLOR: process.env.NO_COLOR };
    delete env.SOPS_AGE_KEY;
    delete env.GITHUB_TOKEN;
    const sh = await demoShell(env);
    await sh`cat deploy-keys.yaml`;

    const manual = server ? [] : ['--manual'];
    step(`New host: vm-fresh ${HOST}`);
    await sh`deploy-keys vm-fresh ${HOST} --yes ${manual}`;

    step('The host file (encrypted; your other keys in it would be kept)');
    await sh`sed -n 1,6p ${`sops/${HOST}.yaml`}`;
    // A private key: decrypted to show that it works, never printed.
    const hidden = sh({
      log: (e: LogEntry) => {
        if (e.kind === 'cmd') process.stdout.write(`$ ${e.cmd} >/dev/null\n`);
      },
    });
    await hidden`deploy-keys sops decrypt ${`sops/${HOST}.yaml`} --extract ${'["deploy-keys"]["nix-config"]'}`;
    process.stdout.write('(decrypts with the operator identity; the MAC is verified)\n');

    step('Re-running vm-fresh for a complete host changes nothing');
    await sh`deploy-keys vm-fresh ${HOST} --yes ${manual}`;

    step(`Activate ${HOST} into a sandbox (keys on stdin, never argv)`);
    const sandbox = path.join(work, 'sandbox');
    const sandboxHome = path.join(sandbox, home.slice(1));
    await fs.mkdir(sandboxHome, { recursive: true });
    await fs.mkdir(path.join(sandbox, 'etc'), { recursive: true }); // root's git config goes to /etc/gitconfig
    const activateFlags = [...(isRoot ? [] : ['--user', user, '--home', home]), ...(server ? [] : ['--no-clone'])];
    await sh`deploy-keys activate ${HOST} --root ${sandbox} ${activateFlags}`;
    await sh`ls -la ${path.join(sandboxHome, '.ssh')}`;
    await sh`sed -n ${'/BEGIN nix-deploy-keys/,/END nix-deploy-keys/p'} ${path.join(sandboxHome, '.ssh/config')}`;
    if (server) for (const r of REPOS) await sh`git -C ${path.join(sandboxHome, r)} log --oneline -1`;

    step('A second activation rewrites nothing');
    await sh`deploy-keys activate ${HOST} --root ${sandbox} ${activateFlags}`;

    step('Status');
    await sh`deploy-keys status ${HOST}`;

    process.stdout.write(`\n${bold('Demo complete.')} Workspace: .demo/ (config, .sops.yaml, sops/${HOST}.yaml, sandbox/).\n`);
  } finally {
    await server?.stop();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`demo: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
