/** In-memory fakes of the life-cycle ports. */
import { realKeys } from '../../scripts/lib/lifecycle/effects/keys.js';
import {
  emptyHostKeys,
  type AddResult,
  type AuditEntry,
  type AuditLog,
  type Clock,
  type DeployKey,
  type ForgePort,
  type HostKeyInfo,
  type HostKeys,
  type HostKeyStore,
  type HostKeysRule,
  type HostSecretsStore,
  type HostState,
  type LifecycleDeps,
  type LockPort,
  type SopsConfigPort,
  type StateStore,
} from '../../scripts/lib/lifecycle/index.js';

export class FakeClock implements Clock {
  constructor(public t = Date.parse('2025-01-01T00:00:00Z')) {}
  now() {
    return this.t;
  }
  async sleep(ms: number) {
    this.t += ms;
  }
  date() {
    return new Date(this.t);
  }
  advanceDays(d: number) {
    this.t += d * 86_400_000;
  }
}

export class FakeForge implements ForgePort {
  readonly kind = 'fake';
  readonly keys = new Map<string, DeployKey[]>();
  readonly writes: string[] = [];
  #id = 100;
  failRemove = false;
  pending = false;
  /** GitHub-like: the person the next keys are added by (a token's owner). */
  addedByUser: string | undefined;
  constructor(readonly clock: Clock) {}
  /** Lists every repo, as the real providers' preflights do. */
  async preflight(repos: readonly string[]) {
    return new Map(await Promise.all(repos.map(async (r) => [r, await this.list(r)] as const)));
  }
  async list(repo: string) {
    return (this.keys.get(repo) ?? []).map((k) => ({ ...k }));
  }
  async add(repo: string, k: { title: string; publicKey: string; readOnly: true }): Promise<AddResult> {
    this.writes.push(`add ${repo} ${k.title}`);
    if (this.pending) return { pending: true };
    const { fingerprintOf } = await import('../../scripts/lib/keys/index.js');
    const fp = fingerprintOf(k.publicKey);
    const list = this.keys.get(repo) ?? [];
    // Idempotent by fingerprint, as every ForgeProvider is.
    const existing = list.find((x) => x.fingerprint === fp);
    if (existing) return { pending: false, key: { ...existing } };
    const key: DeployKey = { status: 'registered', id: String(this.#id++), repo, title: k.title, publicKey: k.publicKey, fingerprint: fp, readOnly: true, enabled: true, createdAt: new Date(this.clock.now()).toISOString(), lastUsed: null };
    if (this.addedByUser !== undefined) Object.assign(key, { addedBy: this.addedByUser, addedByUser: true });
    list.push(key);
    this.keys.set(repo, list);
    return { pending: false, key: { ...key } };
  }
  async remove(repo: string, id: string) {
    this.writes.push(`remove ${repo} ${id}`);
    if (this.failRemove) throw new Error('HTTP 500');
    const list = this.keys.get(repo) ?? [];
    this.keys.set(repo, list.filter((k) => k.id !== id));
  }
  all(): (DeployKey & { repo: string })[] {
    return [...this.keys].flatMap(([repo, l]) => l.map((k) => ({ ...k, repo })));
  }
  use(fingerprint: string) {
    for (const k of this.all()) if (k.fingerprint === fingerprint) this.keys.get(k.repo)!.find((x) => x.id === k.id)!.lastUsed = new Date(this.clock.now()).toISOString();
  }
}

export class FakeSecrets implements HostSecretsStore {
  readonly files = new Map<string, { keys: HostKeys; other: Record<string, unknown>; recipients: string[] }>();
  readonly undecryptable = new Set<string>();
  saves = 0;
  path(host: string) {
    return `/secrets/${host}.yaml`;
  }
  async exists(host: string) {
    return this.files.has(host);
  }
  async load(host: string) {
    const f = this.files.get(host);
    if (!f) return undefined;
    if (this.undecryptable.has(host)) throw new Error(`cannot decrypt ${this.path(host)}`);
    return structuredClone(f.keys);
  }
  async save(host: string, keys: HostKeys) {
    this.saves++;
    const f = this.files.get(host) ?? { keys: emptyHostKeys(), other: {}, recipients: ['age1operator'] };
    f.keys = structuredClone(keys);
    this.files.set(host, f);
  }
  async purge(host: string) {
    this.files.delete(host);
  }
  async recipients(host: string) {
    return this.files.get(host)?.recipients;
  }
}

export class FakeStates implements StateStore {
  readonly m = new Map<string, HostState>();
  /** Writes per host (each one an atomic rewrite with fsyncs on disk). */
  readonly saves = new Map<string, number>();
  async load(host: string) {
    const s = this.m.get(host);
    return s ? structuredClone(s) : undefined;
  }
  async save(s: HostState) {
    this.saves.set(s.host, (this.saves.get(s.host) ?? 0) + 1);
    this.m.set(s.host, structuredClone(s));
  }
  async hosts() {
    return [...this.m.keys()].sort();
  }
}

export class FakeLog implements AuditLog {
  readonly entries: Omit<AuditEntry, 'time' | 'actor'>[] = [];
  /** Appends (writes), each holding one step's entries. */
  appends = 0;
  async append(...e: Omit<AuditEntry, 'time' | 'actor'>[]) {
    this.appends++;
    this.entries.push(...e);
  }
}

/**
 * `.sops.yaml` in memory: rules per file, each recipient either through a
 * host's anchor (`via`) or written literally; a file without a rule of its
 * own gets `defaultRule` (undefined = no creation rule matches it).
 */
export class FakeSops implements SopsConfigPort {
  readonly anchors = new Map<string, string>();
  readonly rules = new Map<string, { value: string; via?: string }[]>();
  /** What each encrypted file's metadata lists now. */
  readonly encryptedFor = new Map<string, string[]>();
  readonly unreadable = new Set<string>();
  /** Files whose data key was rotated, in order. */
  readonly rotated: string[] = [];
  identity = true;
  constructor(public defaultRule: string[] | undefined = ['age1operator']) {}
  async addHostRecipient(host: string, recipient: string) {
    this.anchors.set(host, recipient);
    return true;
  }
  async removeHostRecipient(host: string) {
    const r = this.anchors.get(host);
    this.anchors.delete(host);
    for (const [f, list] of this.rules) this.rules.set(f, list.filter((x) => x.via !== host));
    return r ? [r] : [];
  }
  async updateKeys(file: string, opts: { rotate?: boolean } = {}) {
    if (this.unreadable.has(file)) throw new Error(`${file}: cannot decrypt`);
    this.encryptedFor.set(file, (await this.expectedRecipients(file)) ?? []);
    if (opts.rotate) this.rotated.push(file);
  }
  async filesReadableBy(recipient: string) {
    return [...this.encryptedFor].filter(([, r]) => r.includes(recipient)).map(([file]) => ({ file, name: file.slice(1), values: ['["db"]["password"]'] }));
  }
  async hasIdentity() {
    return this.identity;
  }
  async hostRecipient(host: string) {
    return this.anchors.get(host);
  }
  async expectedRecipients(file: string) {
    const rule = this.rules.get(file);
    return rule ? rule.map((x) => x.value) : this.defaultRule && [...this.defaultRule];
  }
  async hostRecipients() {
    return new Map(this.anchors);
  }
  /** The operator-only rule for host key files; `hostKeysReaders` is whom it names once added. */
  hostKeysRulePresent = false;
  hostKeysReaders = ['age1operator'];
  async hostKeysRule(): Promise<HostKeysRule> {
    return { present: this.hostKeysRulePresent, recipients: [...this.hostKeysReaders] };
  }
  async addHostKeysRule() {
    const changed = !this.hostKeysRulePresent;
    this.hostKeysRulePresent = true;
    return changed;
  }
}

/** Host keys in memory: generated for real (public halves and age recipients as sops-nix derives them). */
export class FakeHostKeys implements HostKeyStore {
  readonly keys = new Map<string, HostKeyInfo>();
  creates = 0;
  path(host: string) {
    return `/secrets/host-keys/${host}.yaml`;
  }
  async load(host: string) {
    return this.keys.get(host);
  }
  async create(host: string, replace: boolean) {
    if (this.keys.has(host) && !replace) throw new Error(`${this.path(host)} exists`);
    this.creates++;
    const { generateDeployKey } = await import('../../scripts/lib/keys/index.js');
    const { hostKeyInfo } = await import('../../scripts/lib/lifecycle/index.js');
    const info = await hostKeyInfo(generateDeployKey(`root@${host}`).privateKey, host);
    this.keys.set(host, info);
    return info;
  }
}

/** No other command runs in a unit test. */
export const noLocks: LockPort = {
  withHost: (_host, _command, fn) => fn(),
  withSopsConfig: (fn) => fn(),
};

export class Crash extends Error {}

export function fakeWorld(repos = ['nix-config', 'dotfiles']) {
  const clock = new FakeClock();
  const forge = new FakeForge(clock);
  const secrets = new FakeSecrets();
  const states = new FakeStates();
  const log = new FakeLog();
  const sops = new FakeSops();
  const hostKeys = new FakeHostKeys();
  /** Per host, the repos the "config" gives it; a host not named here gets every repo. */
  const assigned = new Map<string, string[]>();
  const reposFor = (host: string, o?: { required: boolean }) => {
    const mine = assigned.get(host) ?? repos;
    if (o?.required && mine.length === 0) throw new Error(`host ${host} gets no repo`);
    return repos.filter((r) => mine.includes(r));
  };
  const deps = (extra: Partial<LifecycleDeps> = {}): LifecycleDeps => ({ repos, reposFor, forge, secrets, sops, hostKeys, keys: realKeys, clock, log, states, locks: noLocks, ...extra });
  return { clock, forge, secrets, sops, hostKeys, states, log, deps, repos, assigned };
}

/** Throws Crash after the n-th step whose name starts with `prefix` (simulates an abrupt stop). */
export function crashAfter(prefix: string, nth = 1) {
  let seen = 0;
  const names: string[] = [];
  return {
    names,
    hook: (name: string) => {
      names.push(name);
      if (name === prefix || name.startsWith(`${prefix}:`)) {
        seen++;
        if (seen === nth) throw new Crash(`crash after ${name}`);
      }
    },
  };
}
