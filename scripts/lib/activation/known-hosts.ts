/**
 * Host key pins for the deploy-key aliases. Never TOFU: every host a repo
 * lives on must have a pinned key, either built in (github.com and gitlab.com,
 * from the keys their operators publish) or from the config's `known_hosts`
 * lines.
 *
 * Names are compared the way OpenSSH compares them: case-insensitively (ssh
 * lowercases the host before it looks it up; config/repo-url.ts normalises
 * every host the same way), `host` for port 22 and `[host]:port` for any
 * other port. A configured name must be exactly such a name: hashed names
 * (`|1|salt|hash`, an HMAC of the lowercase name), wildcards and negations
 * (`*`, `?`, `!`) and `@cert-authority`/`@revoked` markers are refused, so a
 * line can never cover a host without saying so (and a foreign key can never
 * hide under github.com or gitlab.com that way).
 */
import { createHash } from 'node:crypto';
import { ConfigError } from '../errors.js';
import { hostProblem, knownHostsName, normalizeHost } from '../config/index.js';

export interface HostKey {
  type: string;
  /** Base64 public key blob. */
  key: string;
}

export interface KnownHostsLine extends HostKey {
  /** The comma-separated name field, split and normalised: `host` or `[host]:port`. */
  names: string[];
  line: string;
}

/** `TYPE BASE64` lines, as the forges publish them. */
function hostKeys(...lines: string[]): HostKey[] {
  return lines.map((l) => {
    const [type = '', key = ''] = l.split(' ');
    return { type, key };
  });
}

/** GitHub's published host keys (docs "GitHub's SSH key fingerprints", post-March-2023). */
const GITHUB_HOST = 'github.com';
export const GITHUB_HOST_KEYS: readonly HostKey[] = hostKeys(
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
  'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=',
  'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQCj7ndNxQowgcQnjshcLrqPEiiphnt+VTTvDP6mHBL9j1aNUkY4Ue1gvwnGLVlOhGeYrnZaMgRK6+PKCUXaDbC7qtbW8gIkhL7aGCsOr/C56SJMy/BCZfxd1nWzAOxSDPgVsmerOBYfNqltV9/hWCqBywINIR+5dIg6JTJ72pcEpEjcYgXkE2YEFXV1JHnsKgbLWNlhScqb2UmyRkQyytRLtL+38TGxkxCflmO+5Z8CSSNY7GidjMIZ7Q4zMjA2n1nGrlTDkzwDCsw+wqFPGQA179cnfGWOWRVruj16z6XyvxvjJwbz0wQZ75XK5tKSb7FNyeIEs4TT4jk+S4dhPeAUC5y+bDYirYgM4GC7uEnztnZyaVWQ7B381AK4Qdrwt51ZqExKbQpTUNn+EjqoTwvqNj4kqx5QUCI0ThS/YkOxJCXmPUWZbhjpCg56i+2aB6CmK2JGhn57K5mj0MNdBXA4/WnwH6XoPWJzK5Nyu2zB3nAZp+S5hpQs+p1vN1/wsjk=',
);

/**
 * GitLab.com's published host keys: GitLab's docs, "GitLab.com settings" →
 * "SSH known_hosts entries" (https://docs.gitlab.com/user/gitlab_com/, source
 * doc/user/gitlab_com/_index.md in gitlab-org/gitlab); their SHA256
 * fingerprints match the page's "SSH host keys fingerprints" table
 * (eUXGGm1Y…, ROQFvPTh…, HbW3g8zU…; checked in test/activation/render.test.ts).
 */
const GITLAB_HOST = 'gitlab.com';
export const GITLAB_HOST_KEYS: readonly HostKey[] = hostKeys(
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAfuCHKVTjquxvt6CM6tdG4SLp1Btn/nOeHHE5UOzRdf',
  'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCsj2bNKTBSpIYDEGk9KxsGh3mySTRgMtXL583qmBpzeQ+jqCMRgBqB98u3z++J1sKlXHWfM9dyhSevkMwSbhoR8XIq/U0tCNyokEi/ueaBMCvbcTHhO7FcwzY92WK4Yt0aGROY5qX2UKSeOvuP4D6TPqKF1onrSzH9bx9XUf2lEdWT/ia1NEKjunUqu1xOB/StKDHMoX4/OKyIzuS0q/T1zOATthvasJFoPrAjkohTyaDUz2LN5JoH839hViyEG82yB+MjcFV5MU3N1l1QL3cVUCh93xSaua1N85qivl+siMkPGbO5xR/En4iEY6K2XPASUEMaieWVNTRCtJ4S8H+9',
  'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFSMqzJeV9rUzU4kWitGjeR4PWSa29SPqJ1fVkhtj3Hw9xjLVXVYrU9QlYWrOLXBpQ6KWjbjTDTdDkoohFzgbEY=',
);

/** Hosts whose keys are built in, by normalised name (port 22): no other key may be pinned for them. */
export const BUILTIN_HOST_KEYS: ReadonlyMap<string, { label: string; keys: readonly HostKey[] }> = new Map([
  [GITHUB_HOST, { label: "GitHub's", keys: GITHUB_HOST_KEYS }],
  [GITLAB_HOST, { label: "GitLab.com's", keys: GITLAB_HOST_KEYS }],
]);

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

function parseKnownHostsLine(line: string): KnownHostsLine {
  const fields = line.trim().split(/\s+/);
  if (fields.length !== 3) throw new ConfigError(`known_hosts line ${JSON.stringify(line)} is not "HOST TYPE BASE64"`);
  const [names, type, key] = fields as [string, string, string];
  return { names: names.split(',').map(normalizeKnownHostsName), type, key, line: line.trim() };
}

/** A name as ssh looks it up (lowercase), or the input unchanged when it is not a plain name (see knownHostsNameProblem). */
function normalizeKnownHostsName(name: string): string {
  return knownHostsNameProblem(name) === undefined ? normalizeHost(name) : name;
}

/** Why a known_hosts name is not a plain `host` or `[host]:port`, or undefined. */
function knownHostsNameProblem(name: string): string | undefined {
  if (name.startsWith('|')) return 'has a hashed name (|1|…)';
  if (/[*?!]/.test(name)) return `has a wildcard or negated name ${JSON.stringify(name)}`;
  if (name.startsWith('@')) return `has a marker ${JSON.stringify(name)} (@cert-authority and @revoked are not supported)`;
  const [, bracketed, port] = /^\[([^\]]+)\]:(\d{1,5})$/.exec(name) ?? [];
  const host = bracketed ?? name;
  if (port !== undefined && !(Number(port) >= 1 && Number(port) <= 65535)) return `has a name ${JSON.stringify(name)} with an invalid port`;
  return hostProblem(host) === undefined ? undefined : `has a name ${JSON.stringify(name)} that is not a host name or address`;
}

/**
 * Checks every configured known_hosts line: plain names only, well-formed
 * keys, no refused key, and nothing for github.com or gitlab.com except their
 * built-in keys (they publish exactly these; any other key under such a name
 * is a mistake or an attack).
 */
export function validateKnownHosts(lines: readonly string[]): KnownHostsLine[] {
  return lines.map((raw, i) => {
    const where = `known_hosts[${i}]`;
    const l = parseKnownHostsLine(raw);
    for (const name of l.names) {
      const bad = knownHostsNameProblem(name);
      if (bad) throw new ConfigError(`${where} ${bad}`, { hint: 'write each name in clear, as "host" or "[host]:port" (ssh-keyscan prints them so)' });
    }
    const problem = publicKeyProblem(l.type, l.key);
    if (problem) throw new ConfigError(`${where} ${problem}`, { hint: 'copy the line from ssh-keyscan output verified out of band' });
    const refused = REFUSED_FINGERPRINTS.get(sshFingerprint(l.key));
    if (refused) {
      throw new ConfigError(`${where} pins ${refused}`, { hint: 'remove the line; github.com\'s current keys are built in' });
    }
    for (const [host, builtin] of BUILTIN_HOST_KEYS) {
      if (l.names.includes(host) || l.names.includes(`[${host}]:22`)) {
        if (!builtin.keys.some((k) => k.type === l.type && k.key === l.key)) {
          throw new ConfigError(`${where} pins a key for ${host} that is not one of ${builtin.label} published host keys`, {
            hint: `remove the line; ${host}'s keys are built in`,
          });
        }
      }
    }
    return l;
  });
}

/**
 * The pinned keys for one endpoint. A plain `host` entry pins port 22 only and
 * `[host]:port` pins that port only — the way ssh looks entries up — so a pin
 * for one port is never stretched to another. Lines must have passed
 * validateKnownHosts (plain, normalised names).
 */
export function pinsFor(lines: readonly KnownHostsLine[], host: string, port: number): HostKey[] {
  const name = knownHostsName(host, port);
  const out: HostKey[] = port === 22 ? [...(BUILTIN_HOST_KEYS.get(name)?.keys ?? [])] : [];
  for (const l of lines) {
    if (!l.names.includes(name)) continue;
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
      throw new ConfigError(`no pinned host key for ${name} (repo ${ep.repo})`, {
        hint:
          `add a known_hosts line "${name} ssh-ed25519 AAAA…" to the config, verified out of band ` +
          `(e.g. ssh-keyscan run on the server itself)${port22Hint(ep)}`,
      });
    }
    for (const k of pins) out += `${name} ${k.type} ${k.key}\n`;
  }
  return out;
}

function port22Hint(ep: Endpoint): string {
  return ep.port === 22 ? '' : `; for port ${ep.port} the name must be written [${ep.host}]:${ep.port}`;
}
