/**
 * The hosts' ssh host keys made by `vm-fresh --new-host-key`:
 * `<secrets_dir>/host-keys/<host>.yaml`, a SOPS file holding one entry,
 * `ssh_host_ed25519_key` (the OpenSSH private key), encrypted through its own
 * `.sops.yaml` rule for the operators only.
 *
 * Not in the host file: that one is encrypted for the host itself (sops-nix
 * decrypts it with this very key) and for whoever the host rule names. A
 * host's ssh key is also its age identity (ssh-to-age), so anyone who can read
 * it reads every secret encrypted for the host and can pose as the host: the
 * host never needs it from SOPS (it has the file), and no other host and no
 * automation (a CI rotation identity) may ever read it.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import type { Config } from '../../config/index.js';
import { DeployKeysError } from '../../errors.js';
import { ensureDir, writeFileAtomic } from '../../fs/index.js';
import { generateDeployKey, parsePrivateKey } from '../../keys/index.js';
import type { HostKeyInfo, HostKeyStore } from '../core/types.js';

/** The folder of the host key files, under secrets_dir. */
export const HOST_KEYS_DIR = 'host-keys';
/** The entry holding the private key: the file name sshd and sops-nix expect it under. */
export const HOST_KEY_ENTRY = 'ssh_host_ed25519_key';

export function hostKeysDir(config: Config): string {
  return path.join(config.secretsDir, HOST_KEYS_DIR);
}

export function hostKeyFilePath(config: Config, host: string): string {
  return path.join(hostKeysDir(config), `${host}.yaml`);
}

/** Public half and age recipient (what sops-nix derives from the key: ssh-to-age). */
export async function hostKeyInfo(privateKey: string, where: string): Promise<HostKeyInfo> {
  const k = parsePrivateKey(privateKey, where);
  if (!k.publicKey.startsWith('ssh-ed25519 ')) throw new DeployKeysError(`${where} is not an ssh-ed25519 key`);
  const { sshPublicKeyToAgeRecipient } = await import('../../age/index.js');
  return { publicKey: k.publicKey, fingerprint: k.fingerprint, recipient: await sshPublicKeyToAgeRecipient(k.publicKey) };
}

export class SopsHostKeys implements HostKeyStore {
  constructor(
    readonly config: Config,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  path(host: string): string {
    return hostKeyFilePath(this.config, host);
  }

  async #exists(file: string): Promise<boolean> {
    return fs.access(file).then(
      () => true,
      () => false,
    );
  }

  /** The private key (OpenSSH text), decrypted with the operator's identity (MAC verified); undefined when none is stored. */
  async privateKey(host: string): Promise<string | undefined> {
    const file = this.path(host);
    if (!(await this.#exists(file))) return undefined;
    const sops = await import('../../sops/index.js');
    const dec = await sops.decryptFile(file, { env: this.env });
    const v = dec.tree instanceof Map ? dec.tree.get(HOST_KEY_ENTRY) : undefined;
    if (typeof v !== 'string') {
      throw new DeployKeysError(`${file}: no "${HOST_KEY_ENTRY}" entry`, { hint: `restore the file from version control, or replace the key with "deploy-keys vm-fresh ${host} --new-host-key --force"` });
    }
    return v;
  }

  async load(host: string): Promise<HostKeyInfo | undefined> {
    const key = await this.privateKey(host);
    return key === undefined ? undefined : hostKeyInfo(key, `${this.path(host)}: ${HOST_KEY_ENTRY}`);
  }

  async create(host: string, replace: boolean): Promise<HostKeyInfo> {
    const file = this.path(host);
    if (!replace && (await this.#exists(file))) throw new DeployKeysError(`${file} appeared while the command ran`, { hint: 're-run the command' });
    // ssh-keygen -A names a host key root@<hostname>.
    const key = generateDeployKey(`root@${host}`);
    const sops = await import('../../sops/index.js');
    await ensureDir(path.dirname(file));
    const enc = await sops.encryptText(stringify({ [HOST_KEY_ENTRY]: key.privateKey }), { filePath: file, cwd: path.dirname(file), env: this.env });
    await writeFileAtomic(file, enc, { mode: 0o600 });
    return hostKeyInfo(key.privateKey, `${file}: ${HOST_KEY_ENTRY}`);
  }
}
