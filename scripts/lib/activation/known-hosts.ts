/**
 * Host key pins for the deploy-key aliases. Never TOFU: every host a repo
 * lives on must have a pinned key, either built in (github.com, from GitHub's
 * published fingerprints) or from the config's `known_hosts` lines.
 */
import { createHash } from 'node:crypto';
import { ConfigError } from '../errors.js';
import { knownHostsName } from '../config/index.js';

export interface HostKey {
  type: string;
  /** Base64 public key blob. */
  key: string;
}

export interface KnownHostsLine extends HostKey {
  /** The comma-separated name field, split: `host`, `[host]:port`, patterns or `|1|…` hashes. */
  names: string[];
  line: string;
}

/** GitHub's published host keys (docs "GitHub's SSH key fingerprints", post-March-2023). */
export const GITHUB_HOST = 'github.com';
export const GITHUB_HOST_KEYS: readonly HostKey[] = [
  { type: 'ssh-ed25519', key: 'AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl' },
  {
    type: 'ecdsa-sha2-nistp256',
    key: 'AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=',
  },
  {
    type: 'ssh-rsa',
    key: 'AAAAB3NzaC1yc2EAAAADAQABAAABgQCj7ndNxQowgcQnjshcLrqPEiiphnt+VTTvDP6mHBL9j1aNUkY4Ue1gvwnGLVlOhGeYrnZaMgRK6+PKCUXaDbC7qtbW8gIkhL7aGCsOr/C56SJMy/BCZfxd1nWzAOxSDPgVsmerOBYfNqltV9/hWCqBywINIR+5dIg6JTJ72pcEpEjcYgXkE2YEFXV1JHnsKgbLWNlhScqb2UmyRkQyytRLtL+38TGxkxCflmO+5Z8CSSNY7GidjMIZ7Q4zMjA2n1nGrlTDkzwDCsw+wqFPGQA179cnfGWOWRVruj16z6XyvxvjJwbz0wQZ75XK5tKSb7FNyeIEs4TT4jk+S4dhPeAUC5y+bDYirYgM4GC7uEnztnZyaVWQ7B381AK4Qdrwt51ZqExKbQpTUNn+EjqoTwvqNj4kqx5QUCI0ThS/YkOxJCXmPUWZbhjpCg56i+2aB6CmK2JGhn57K5mj0MNdBXA4/WnwH6XoPWJzK5Nyu2zB3nAZp+S5hpQs+p1vN1/wsjk=',
  },
];

/** Host keys refused wherever they appear, by SHA256 fingerprint. */
export const REFUSED_FINGERPRINTS: ReadonlyMap<string, string> = new Map([
  ['SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8', "GitHub's pre-2023 RSA host key (its private half leaked; rotated on 2023-03-24)"],
]);

const KEY_TYPES = new Set([
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa',
  'sk-ssh-ed25519@openssh.com',
]);

/** `SHA256:<unpadded base64>` of the blob, as `ssh-keygen -lf` prints it. */
export function sshFingerprint(base64Blob: string): string {
  const digest = createHash('sha256').update(Buffer.from(base64Blob, 'base64')).digest('base64');
  return `SHA256:${digest.replace(/=+$/, '')}`;
}

/** Why a `type` + base64 blob is not a well-formed public key, or undefined. */
export function publicKeyProblem(type: string, base64Blob: string): string | undefined {
  if (!KEY_TYPES.has(type)) return `has an unsupported key type ${JSON.stringify(type)}`;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64Blob) || base64Blob.length % 4 !== 0) return 'has a malformed base64 key';
  const blob = Buffer.from(base64Blob, 'base64');
  if (blob.length < 4) return 'has a truncated key';
  const n = blob.readUInt32BE(0);
  if (n > blob.length - 4 || blob.subarray(4, 4 + n).toString('latin1') !== type) {
    return `has a key whose encoded type is not ${type}`;
  }
  return undefined;
}

export function parseKnownHostsLine(line: string): KnownHostsLine {
  const fields = line.trim().split(/\s+/);
  if (fields.length !== 3) throw new ConfigError(`known_hosts line ${JSON.stringify(line)} is not "HOST TYPE BASE64"`);
  const [names, type, key] = fields as [string, string, string];
  return { names: names.split(','), type, key, line: line.trim() };
}

/**
 * Checks every configured known_hosts line: well-formed keys, no refused key,
 * and nothing for github.com except GitHub's built-in keys (GitHub has exactly
 * these; any other key under that name is a mistake or an attack).
 */
export function validateKnownHosts(lines: readonly string[]): KnownHostsLine[] {
  return lines.map((raw, i) => {
    const where = `known_hosts[${i}]`;
    const l = parseKnownHostsLine(raw);
    const problem = publicKeyProblem(l.type, l.key);
    if (problem) throw new ConfigError(`${where} ${problem}`, { hint: 'copy the line from ssh-keyscan output verified out of band' });
    const refused = REFUSED_FINGERPRINTS.get(sshFingerprint(l.key));
    if (refused) {
      throw new ConfigError(`${where} pins ${refused}`, { hint: 'remove the line; github.com\'s current keys are built in' });
    }
    if (l.names.some((n) => n.toLowerCase() === GITHUB_HOST || n.toLowerCase() === `[${GITHUB_HOST}]:22`) && !isBuiltinGithubKey(l)) {
      throw new ConfigError(`${where} pins a key for github.com that is not one of GitHub's published host keys`, {
        hint: 'remove the line; github.com\'s keys are built in',
      });
    }
    return l;
  });
}

function isBuiltinGithubKey(k: HostKey): boolean {
  return GITHUB_HOST_KEYS.some((g) => g.type === k.type && g.key === k.key);
}

/**
 * The pinned keys for one endpoint. A plain `host` entry pins port 22 only and
 * `[host]:port` pins that port only — the way ssh looks entries up — so a pin
 * for one port is never stretched to another. Names compare case-insensitively,
 * as ssh compares them. Hashed and wildcard names are not matched.
 */
export function pinsFor(lines: readonly KnownHostsLine[], host: string, port: number): HostKey[] {
  const name = knownHostsName(host, port).toLowerCase();
  const out: HostKey[] = host.toLowerCase() === GITHUB_HOST && port === 22 ? [...GITHUB_HOST_KEYS] : [];
  for (const l of lines) {
    if (!l.names.some((n) => n.toLowerCase() === name)) continue;
    if (!out.some((k) => k.type === l.type && k.key === l.key)) out.push({ type: l.type, key: l.key });
  }
  return out;
}

export interface Endpoint {
  host: string;
  port: number;
  /** A repo on this endpoint, for the error message. */
  repo: string;
}

/** Content of the managed known_hosts file: one line per pinned key, endpoints in first-use order. */
export function renderKnownHostsFile(endpoints: readonly Endpoint[], configLines: readonly string[]): string {
  const lines = validateKnownHosts(configLines);
  const seen = new Set<string>();
  let out = '# nix-deploy-keys: pinned host keys for the deploy-key aliases (managed file; regenerated)\n';
  for (const ep of endpoints) {
    const name = knownHostsName(ep.host, ep.port);
    if (seen.has(name)) continue;
    seen.add(name);
    const pins = pinsFor(lines, ep.host, ep.port);
    if (pins.length === 0) {
      const hashed = lines.some((l) => l.names.some((n) => n.startsWith('|')));
      throw new ConfigError(`no pinned host key for ${name} (repo ${ep.repo})`, {
        hint:
          `add a known_hosts line "${name} ssh-ed25519 AAAA…" to the config, verified out of band ` +
          `(e.g. ssh-keyscan run on the server itself)${port22Hint(ep)}${hashed ? '; hashed (|1|…) names are not matched, write the name in clear' : ''}`,
      });
    }
    for (const k of pins) out += `${name} ${k.type} ${k.key}\n`;
  }
  return out;
}

function port22Hint(ep: Endpoint): string {
  return ep.port === 22 ? '' : `; for port ${ep.port} the name must be written [${ep.host}]:${ep.port}`;
}
