/**
 * A new host from nothing to "the first activation clones both repos", with
 * one vm-fresh and one nixos-anywhere, through the built CLI:
 *
 *   deploy-keys vm-fresh web-01 --new-host-key
 *   deploy-keys extra-files web-01 -- nixos-anywhere --flake .#web-01 …
 *
 * nixos-anywhere is a stand-in that copies --extra-files the way nixos-anywhere
 * does (tar -cpf- | tar -xf- --no-same-owner, as root) into a directory that
 * plays the installed host's `/`. Then, for real: an sshd serves that host
 * with the key it received (the pin the tool wrote matches, StrictHostKeyChecking
 * yes); the age identity sops-nix derives from that key (sshKeyPaths) opens the
 * host file with the age CLI and with the real sops; the activation script,
 * given the keys sops-nix would write, clones both repos from a real sshd.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createDecipheriv } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { sshKeyToAge } from 'sops-age';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { sshPrivateKeyToAgeIdentity } from '../../scripts/lib/age/index.js';
import { processAlive } from '../../scripts/lib/fs/index.js';
import { REAL_SOPS, realSopsDecrypt } from '../helpers/real-sops.js';
import { freePort, haveSshd, makeClientKey, startSshd, type SshdFixture } from '../helpers/sshd.js';
import { haveTools } from '../helpers/tools.js';
import { ageCliDecrypt } from '../sops/helpers.js';

const BIN = new URL('../../dist/scripts/cli/bin.js', import.meta.url).pathname;
const REPOS = ['nix-config', 'nix-secrets'];
const HOST = 'web-01';

/** Copies --extra-files exactly as nixos-anywhere's nixosInstall does, as root, into $FAKE_NA_ROOT. */
const FAKE_NIXOS_ANYWHERE = `#!/bin/sh
set -eu
out=$FAKE_NA_OUT
printf '%s\\n' "$@" >"$out/args"
env | cut -d= -f1 | LC_ALL=C sort >"$out/env"
dir=''
while [ $# -gt 0 ]; do
  case $1 in --extra-files) dir=$2; shift ;; esac
  shift
done
[ -n "$dir" ] || exit 3
(cd "$dir" && find . -printf '%P %y %m\\n' | LC_ALL=C sort) >"$out/listing"
mkdir -p "$FAKE_NA_ROOT"
tar -C "$dir" -cpf- . | tar -C "$FAKE_NA_ROOT" -xf- --no-same-owner
chmod 755 "$FAKE_NA_ROOT"
if [ -n "\${FAKE_NA_WAIT:-}" ]; then
  echo $$ >"$out/pid"
  : >"$out/ready"
  while :; do sleep 1; done
fi
exit "\${FAKE_NA_EXIT:-0}"
`;

/** The tree with the host key alone, as find prints it: path, type, mode. */
const HOST_KEY_TREE = [' d 700', 'etc d 755', 'etc/ssh d 755', 'etc/ssh/ssh_host_ed25519_key f 600', 'etc/ssh/ssh_host_ed25519_key.pub f 644'];
const DEPLOY_KEYS_TREE = [
  'etc/gitconfig f 644',
  'root d 700',
  'root/.ssh d 700',
  'root/.ssh/.deploy-keys-managed f 600',
  'root/.ssh/config f 600',
  'root/.ssh/deploy-keys-git-ssh f 700',
  'root/.ssh/deploy-keys_known_hosts f 644',
  ...REPOS.flatMap((r) => [`root/.ssh/${r}-deploy f 600`, `root/.ssh/${r}-deploy.pub f 644`]),
];

/** AES-256-GCM of one sops value, with node:crypto alone (not the codec under test). */
function openValue(enc: string, dataKey: Buffer, aad: string): string {
  const [, data, iv, tag] = /^ENC\[AES256_GCM,data:([^,]*),iv:([^,]*),tag:([^,]*),type:str\]$/.exec(enc) ?? [];
  if (data === undefined || iv === undefined || tag === undefined) throw new Error('not a sops string value');
  const d = createDecipheriv('aes-256-gcm', dataKey, Buffer.from(iv, 'base64'));
  d.setAAD(Buffer.from(aad));
  d.setAuthTag(Buffer.from(tag, 'base64'));
  return Buffer.concat([d.update(Buffer.from(data, 'base64')), d.final()]).toString();
}

describe.skipIf(!(haveSshd() && haveTools('git', 'tar', 'find', 'age', 'age-keygen')))('a new host in one pass: vm-fresh --new-host-key, extra-files, nixos-anywhere', () => {
  let forge: SshdFixture;
  let work: string;
  let tmp: string;
  let out: string;
  let env: NodeJS.ProcessEnv;

  const dk = (args: string[], extra: NodeJS.ProcessEnv = {}) => {
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd: work, env: { ...env, ...extra }, encoding: 'utf8', input: '' });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const fresh = (name: string) => {
    const d = path.join(forge.dir, name);
    mkdirSync(d, { recursive: true });
    return d;
  };
  /** Temp entries left anywhere the CLI may put its tree. */
  const leftovers = () => readdirSync(tmp);

  beforeAll(async () => {
    forge = await startSshd({ repos: REPOS.map((r) => `acme/${r}`) });
    return () => forge.stop();
  });
  beforeAll(async () => {
    work = fresh('fleet');
    mkdirSync(path.join(work, 'sops'));
    tmp = mkdtempSync(path.join(forge.dir, 'tmp-'));
    out = fresh('nixos-anywhere');
    const bin = fresh('bin');
    writeFileSync(path.join(bin, 'nixos-anywhere'), FAKE_NIXOS_ANYWHERE, { mode: 0o755 });
    const identity = await generateX25519Identity();
    env = { PATH: `${bin}:${process.env.PATH ?? ''}`, HOME: work, SOPS_AGE_KEY: identity, TMPDIR: tmp, FAKE_NA_OUT: out };
    writeFileSync(
      path.join(work, '.sops.yaml'),
      `# the fleet\nkeys:\n  - &operator ${await identityToRecipient(identity)}\ncreation_rules:\n  # every host file\n  - path_regex: ^sops/[^/]+\\.yaml$\n    key_groups:\n      - age:\n          - *operator\n`,
    );
    writeFileSync(
      path.join(work, 'deploy-keys.yaml'),
      `secrets_dir: sops\nforge:\n  type: ssh\n  authorized_keys: ${forge.authorizedKeys}\nknown_hosts:\n  - "${forge.knownHostsLine()}"\nrepos:\n${REPOS.map((r) => `  ${r}:\n    url: ${forge.repoUrl(`acme/${r}`)}\n`).join('')}`,
    );
    const r = dk(['vm-fresh', HOST, '--new-host-key', '--yes']);
    expect(r.code, r.err).toBe(0);
  });

  it('the host boots with the key the pin names, sops-nix opens its host file, and the first activation clones both repos', async () => {
    const root = path.join(forge.dir, 'installed');
    const port = await freePort();
    const knownHosts = path.join(work, 'known_hosts');
    const r = dk(['extra-files', HOST, '--deploy-keys', '--target', 'git@127.0.0.1', '--port', String(port), '--known-hosts', knownHosts, '--', 'nixos-anywhere', '--flake', `.#${HOST}`, '--target-host', 'root@192.0.2.10'], { FAKE_NA_ROOT: root, SSH_AUTH_SOCK: '/run/agent.sock', DEPLOY_KEYS_GITHUB_APP_KEY_FILE: '/nonexistent/app.pem' });
    expect(r.code, r.err + r.out).toBe(0);
    expect(r.out + r.err).not.toMatch(/PRIVATE KEY/);

    // nixos-anywhere got its own arguments and --extra-files DIR; DIR held exactly the tree, and is gone.
    const args = readFileSync(path.join(out, 'args'), 'utf8').trim().split('\n');
    expect(args.slice(0, -2)).toEqual(['--flake', `.#${HOST}`, '--target-host', 'root@192.0.2.10']);
    expect(args.at(-2)).toBe('--extra-files');
    expect(path.dirname(args.at(-1)!)).toBe(tmp);
    expect(readFileSync(path.join(out, 'listing'), 'utf8').replace(/\n$/, '').split('\n')).toEqual([...HOST_KEY_TREE, ...DEPLOY_KEYS_TREE].sort());
    expect(leftovers()).toEqual([]);
    // The installer gets the operator's environment (nix and ssh need it), never the age identity or the forge token.
    const seen = readFileSync(path.join(out, 'env'), 'utf8').split('\n');
    expect(seen).toContain('PATH');
    expect(seen).toContain('SSH_AUTH_SOCK');
    for (const secret of ['SOPS_AGE_KEY', 'DEPLOY_KEYS_GITHUB_APP_KEY_FILE']) expect(seen).not.toContain(secret);

    // On the host: root's, with the modes sshd and ssh insist on.
    const key = path.join(root, 'etc/ssh/ssh_host_ed25519_key');
    expect([statSync(key).uid, statSync(key).mode & 0o777]).toEqual([0, 0o600]);
    expect(statSync(path.join(root, 'etc')).mode & 0o777).toBe(0o755);
    expect(statSync(path.join(root, 'root/.ssh')).mode & 0o777).toBe(0o700);
    const pub = readFileSync(`${key}.pub`, 'utf8').trim();
    expect(pub).toMatch(/^ssh-ed25519 \S+ root@web-01$/);
    expect(readFileSync(knownHosts, 'utf8')).toBe(`[127.0.0.1]:${port} ${pub.split(' ').slice(0, 2).join(' ')}\n`);

    // The host's sshd answers with that key; the pin the tool wrote lets StrictHostKeyChecking=yes connect.
    const hostSshd = await startSshd({ hostKeyFile: key, port });
    try {
      const operator = await makeClientKey(hostSshd.dir, 'operator');
      writeFileSync(hostSshd.authorizedKeys, `${operator.publicKey}\n`);
      const ssh = (kh: string) =>
        spawnSync('ssh', ['-F', '/dev/null', '-i', operator.privateKeyPath, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${kh}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-p', String(port), `${hostSshd.user}@127.0.0.1`, 'echo', 'pinned'], { encoding: 'utf8' });
      const ok = ssh(knownHosts);
      expect(ok.status, ok.stderr).toBe(0);
      expect(ok.stdout.trim()).toBe('pinned');
      // The control: another key under the same name is refused.
      const wrong = path.join(hostSshd.dir, 'wrong_known_hosts');
      writeFileSync(wrong, `[127.0.0.1]:${port} ${forge.hostPublicKey}\n`);
      expect(ssh(wrong).stderr).toMatch(/HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
      // bootstrap pins the key vm-fresh made without being told (no --host-key, nothing in any known_hosts).
      const target = path.join(hostSshd.dir, 'target');
      mkdirSync(path.join(target, 'home/git'), { recursive: true });
      for (const p of [target, path.join(target, 'home'), path.join(target, 'home/git')]) chownSync(p, hostSshd.uid, hostSshd.gid);
      const b = dk(['bootstrap', HOST, '--target', `${hostSshd.user}@127.0.0.1`, '--port', String(port), '--identity', operator.privateKeyPath, '--user', 'git', '--home', '/home/git', '--root', target, '--no-clone']);
      expect(b.code, b.err + b.out).toBe(0);
      expect(existsSync(path.join(target, 'home/git/.ssh/nix-config-deploy'))).toBe(true);
    } finally {
      await hostSshd.stop();
    }

    // sops-nix: sshKeyPaths → an age X25519 identity (ssh-to-age), the same from an independent implementation.
    const identity = sshPrivateKeyToAgeIdentity(readFileSync(key, 'utf8'));
    expect(sshKeyToAge(readFileSync(key, 'utf8'))).toBe(identity);
    const idFile = path.join(fresh('sops-nix'), 'keys.txt');
    writeFileSync(idFile, `${identity}\n`, { mode: 0o600 });
    const recipient = spawnSync('age-keygen', ['-y', idFile], { encoding: 'utf8' }).stdout.trim();
    const hostFile = readFileSync(path.join(work, 'sops', `${HOST}.yaml`), 'utf8');
    const doc = parse(hostFile) as { 'deploy-keys': Record<string, string>; sops: { age: { recipient: string; enc: string }[] } };
    const stanza = doc.sops.age.find((a) => a.recipient === recipient);
    expect(stanza, 'the host file is encrypted for the recipient sops-nix derives').toBeDefined();
    const dataKey = ageCliDecrypt(stanza!.enc, idFile);
    expect(dataKey).toHaveLength(32);
    expect(openValue(doc['deploy-keys']['nix-config']!, dataKey, 'deploy-keys:nix-config:')).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
    // The host key file is not: the host, and only the operators, never read it from SOPS.
    const hostKeyFile = parse(readFileSync(path.join(work, 'sops', 'host-keys', `${HOST}.yaml`), 'utf8')) as { sops: { age: { recipient: string }[] } };
    expect(hostKeyFile.sops.age.map((a) => a.recipient)).not.toContain(recipient);

    let keys: Record<string, string>;
    if (existsSync(REAL_SOPS)) {
      const dec = await realSopsDecrypt(hostFile, identity);
      expect(dec.ok, dec.ok ? '' : dec.reason).toBe(true);
      keys = (dec as { json: { 'deploy-keys': Record<string, string> } }).json['deploy-keys'];
    } else {
      if (process.env.CI === 'true') throw new Error(`CI requires the real sops (${REAL_SOPS}): node scripts/fetch-real-sops.mjs`);
      keys = Object.fromEntries(REPOS.map((repo) => [repo, openValue(doc['deploy-keys'][repo]!, dataKey, `deploy-keys:${repo}:`)]));
    }

    // The first activation: sops-nix wrote the secrets, the module runs the script; both repos are cloned.
    const secrets = path.join(root, 'run/secrets/deploy-keys');
    mkdirSync(secrets, { recursive: true });
    for (const repo of REPOS) writeFileSync(path.join(secrets, repo), keys[repo]!, { mode: 0o400 });
    const script = dk(['activation', HOST]);
    expect(script.code, script.err).toBe(0);
    const act = spawnSync('sh', ['-c', script.out, 'activation', '--root', root], { encoding: 'utf8' });
    expect(act.status, act.stderr + act.stdout).toBe(0);
    for (const repo of REPOS) expect(existsSync(path.join(root, 'root', repo, 'README.md')), repo).toBe(true);
    // The staged keys were the host's own: the activation kept them.
    expect(act.stdout).not.toMatch(/installed \/root\/\.ssh\/nix-config-deploy/);
  });

  it('--out writes the host key alone, whole and private; --cleanup removes it and nothing else', () => {
    const parent = fresh('out');
    const tree = path.join(parent, 'web-01-extra');
    const r = dk(['extra-files', HOST, '--out', tree, '--json']);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out) as { dir: string; files: { path: string; kind: string; mode: string }[]; command: string[] };
    expect(j.command).toEqual(['nixos-anywhere', '--flake', `.#${HOST}`, '--extra-files', tree, '--target-host', `root@${HOST}`]);
    expect(j.files.map((f) => `${f.path} ${f.kind} ${f.mode}`)).toEqual(['etc dir 0755', 'etc/ssh dir 0755', 'etc/ssh/ssh_host_ed25519_key file 0600', 'etc/ssh/ssh_host_ed25519_key.pub file 0644']);
    expect(statSync(tree).mode & 0o777).toBe(0o700);
    expect(readdirSync(parent)).toEqual(['web-01-extra']);

    const text = dk(['extra-files', HOST, '--out', path.join(parent, 'second'), '--flake', '.#web', '--target', 'root@192.0.2.10', '--port', '2222', '--host-key-path', '/persist/ssh/host_key']);
    expect(text.code, text.err).toBe(0);
    expect(statSync(path.join(parent, 'second/persist/ssh/host_key')).mode & 0o777).toBe(0o600);
    expect(text.out).toContain(`nixos-anywhere --flake '.#web' --extra-files ${path.join(parent, 'second')} -p 2222 --target-host root@192.0.2.10\n`);
    expect(text.out).toMatch(/pin it where you ssh from: "\[192\.0\.2\.10\]:2222 ssh-ed25519 \S+"/);

    expect(dk(['extra-files', HOST, '--out', tree]).code).toBe(1);
    // A failure half way (no sh to stage root's deploy keys after the host key is written): nothing at DIR, nothing beside it.
    const half = dk(['extra-files', HOST, '--out', path.join(parent, 'half'), '--deploy-keys'], { PATH: path.join(forge.dir, 'bin') });
    expect(half.code, half.err).toBe(1);
    expect(half.err).toMatch(/stage root's deploy keys/);
    expect(readdirSync(parent).sort()).toEqual(['second', 'web-01-extra']);
    // Not a tree extra-files wrote: refused, untouched.
    const other = fresh('not-a-tree');
    writeFileSync(path.join(other, 'notes'), 'keep');
    // A key pair that is not a private host key (0644) does not make it one either.
    writeFileSync(path.join(other, 'id'), 'keep', { mode: 0o644 });
    writeFileSync(path.join(other, 'id.pub'), 'keep');
    chmodSync(other, 0o700);
    const refused = dk(['extra-files', '--cleanup', other]);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/holds no ssh host key: not an extra-files tree/);
    expect(readFileSync(path.join(other, 'notes'), 'utf8')).toBe('keep');
    for (const t of [tree, path.join(parent, 'second')]) expect(dk(['extra-files', '--cleanup', t]).code).toBe(0);
    expect(readdirSync(parent)).toEqual([]);
  });

  it('nothing secret is left in the temp directory after a failure, a SIGTERM, or a SIGKILL', async () => {
    const root = fresh('failed-install');
    const failed = dk(['extra-files', HOST, '--', 'nixos-anywhere'], { FAKE_NA_ROOT: root, FAKE_NA_EXIT: '1' });
    expect(failed.code).toBe(1);
    expect(failed.err).toMatch(/nixos-anywhere exited with 1/);
    expect(leftovers()).toEqual([]);

    /** Starts extra-files with an installer that waits; resolves once the tree is in use. */
    const started = async () => {
      for (const f of ['ready', 'pid']) spawnSync('rm', ['-f', path.join(out, f)]);
      const child = spawn(process.execPath, [BIN, 'extra-files', HOST, '--', 'nixos-anywhere'], { cwd: work, env: { ...env, FAKE_NA_ROOT: root, FAKE_NA_WAIT: '1' }, stdio: 'ignore' });
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
      for (let i = 0; i < 600 && !existsSync(path.join(out, 'ready')); i++) await new Promise((r) => setTimeout(r, 50));
      expect(existsSync(path.join(out, 'ready')), 'the installer started').toBe(true);
      expect(leftovers()).toHaveLength(1);
      return { child, exited, installer: Number(readFileSync(path.join(out, 'pid'), 'utf8')) };
    };

    const term = await started();
    term.child.kill('SIGTERM');
    expect(await term.exited).toBe('SIGTERM');
    expect(processAlive(term.installer), 'SIGTERM is forwarded to the installer').toBe(false);
    expect(leftovers()).toEqual([]);

    const killed = await started();
    killed.child.kill('SIGKILL');
    expect(await killed.exited).toBe('SIGKILL');
    process.kill(killed.installer, 'SIGKILL');
    const [left] = leftovers();
    expect(left).toMatch(/^\.extra-files\.dk-tmp\./);
    expect(existsSync(path.join(tmp, left!, 'etc/ssh/ssh_host_ed25519_key'))).toBe(true);
    // The next run sweeps what the killed one left.
    expect(dk(['extra-files', HOST, '--', 'nixos-anywhere'], { FAKE_NA_ROOT: root }).code).toBe(0);
    expect(leftovers()).toEqual([]);
  });
});
