/**
 * The tree nixos-anywhere copies onto the new system with `--extra-files DIR`
 * (pure: what goes where, with which mode). nixos-anywhere packs DIR with
 * `tar -C DIR -cpf- .` and unpacks it as root into /mnt with
 * `--no-same-owner`: every file arrives owned by root with the mode it has
 * here, and every directory's mode is applied to the target's directory of the
 * same name (/mnt/etc gets the mode of DIR/etc), so directories get exactly
 * the modes they must have on the host. DIR itself may be 0700: nixos-anywhere
 * sets /mnt back to 0755 afterwards.
 */
import { DeployKeysError, UsageError } from '../errors.js';

export interface TreeEntry {
  /** Relative to the tree's root (no leading slash): where it lands under `/`. */
  path: string;
  kind: 'dir' | 'file';
  mode: number;
  /** Files only. */
  content?: string;
}

/** Where NixOS's sshd and sops-nix look for the host key by default (services.openssh.hostKeys, sops.age.sshKeyPaths). */
export const DEFAULT_HOST_KEY_PATH = '/etc/ssh/ssh_host_ed25519_key';
/** Directories on the way to a host key: what NixOS gives /etc and /etc/ssh. */
const DIR_MODE = 0o755;

/** The components of an absolute path of letters, digits and `. _ - @ +`, without `.` or `..` components. */
export function pathComponents(absolute: string, what: string): string[] {
  const parts = absolute.split('/').slice(1);
  if (!absolute.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..' || !/^[A-Za-z0-9._@+-]+$/.test(p)) || parts.length > 16) {
    throw new UsageError(`${what} ${JSON.stringify(absolute)} must be an absolute path of letters, digits and . _ - @ + (no "." or ".." parts)`, 'e.g. /etc/ssh/ssh_host_ed25519_key');
  }
  return parts;
}

/**
 * The host key at `keyPath` (0600) and its `.pub` (0644), with every directory
 * on the way (0755). `publicKey` is the key's `ssh-ed25519 AAAA… comment` line.
 */
export function hostKeyEntries(keyPath: string, privateKey: string, publicKey: string): TreeEntry[] {
  const parts = pathComponents(keyPath, '--host-key-path');
  if (!privateKey.endsWith('\n') || !/^ssh-ed25519 \S+( \S+)?$/.test(publicKey)) throw new DeployKeysError('internal error: not an ssh-ed25519 key pair');
  const dirs = parts.slice(0, -1).map((_, i): TreeEntry => ({ path: parts.slice(0, i + 1).join('/'), kind: 'dir', mode: DIR_MODE }));
  const file = parts.join('/');
  return [
    ...dirs,
    { path: file, kind: 'file', mode: 0o600, content: privateKey },
    { path: `${file}.pub`, kind: 'file', mode: 0o644, content: `${publicKey}\n` },
  ];
}

/** `/etc` (0755), where the activation script puts root's git config, when the host key does not bring it. */
export function etcEntry(entries: readonly TreeEntry[]): TreeEntry[] {
  return entries.some((e) => e.path === 'etc') ? [] : [{ path: 'etc', kind: 'dir', mode: DIR_MODE }];
}
