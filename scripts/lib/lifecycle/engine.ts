/**
 * Runs plans. Order is what makes it crash-safe:
 *
 *  1. a new private key is written (encrypted, atomically) into the host file
 *     before the forge ever sees its public half;
 *  2. the forge id is recorded in the public sidecar after the forge answers;
 *  3. an old key leaves the forge before its private half leaves the host file.
 *
 * So at every instant each registered key has its private half stored, and a
 * re-run re-plans from what is actually stored and registered and converges.
 * The sidecar's `operation` field is the journal: set before the first change,
 * updated after each step, cleared at the end; a re-run reports it.
 */
import { DeployKeysError } from '../errors.js';
import { deployKeyTitle } from '../names.js';
import { acquireLock, type Lock } from './lock.js';
import {
  describeStep,
  hasChanges,
  planFinish,
  planRevoke,
  planRotate,
  planVmFresh,
  type Plan,
  type PlanInput,
  type Step,
} from './plan.js';
import { auditFindings, hostStatus, type Finding, type HostStatus } from './report.js';
import { deriveRepos, newState } from './state.js';
import {
  emptyHostKeys,
  withoutKey,
  type AuditLog,
  type Clock,
  type FaultHook,
  type DeployKey,
  type ForgePort,
  type HostKeys,
  type HostKeysView,
  type HostSecretsStore,
  type HostState,
  type KeyFactory,
  type PublicKeyInfo,
  type SopsConfigPort,
  type StateStore,
} from './types.js';

/** The host's activation script (no secrets; embeds the expected public key per repo). */
export interface ActivationPort {
  path(host: string): string;
  /** Whether the file exists and equals what would be written for these public keys. */
  isCurrent(host: string, publicKeys: Record<string, string>): Promise<boolean>;
  write(host: string, publicKeys: Record<string, string>): Promise<void>;
}

function currentPublicKeys(view: HostKeysView | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [repo, info] of Object.entries(view?.current ?? {})) out[repo] = info.publicKey;
  return out;
}

/** Adds the activation step when the plan changes current keys or the file is out of date. */
async function withActivation(deps: LifecycleDeps, plan: Plan, view: HostKeysView | undefined): Promise<Plan> {
  if (!deps.activation || plan.steps.some((st) => st.op === 'write-activation')) return plan;
  const changesCurrent = plan.steps.some((st) => st.op === 'write-host-file' && st.edits.some((e) => e.type === 'promote' || (e.type === 'generate' && e.slot === 'current')));
  if (changesCurrent || !(await deps.activation.isCurrent(plan.host, currentPublicKeys(view)))) {
    return { ...plan, steps: [...plan.steps, { op: 'write-activation', file: deps.activation.path(plan.host) }] };
  }
  return plan;
}

export interface LifecycleDeps {
  /** Managed repos, config order. */
  repos: readonly string[];
  forge: ForgePort;
  secrets: HostSecretsStore;
  sops?: SopsConfigPort;
  keys: KeyFactory;
  clock: Clock;
  log: AuditLog;
  states: StateStore;
  /** Directory for lock files; absent = no locking (unit tests). */
  lockDir?: string;
  fault?: FaultHook;
  activation?: ActivationPort;
  /** Asked before executing a plan with changes; false aborts. Absent = proceed. */
  confirm?: (plan: Plan) => Promise<boolean>;
}

/** Lists each repo once per run and keeps the cached listing in step with adds and removes. */
export class ForgeCache {
  readonly #lists = new Map<string, Promise<DeployKey[]>>();
  constructor(readonly forge: ForgePort) {}

  list(repo: string): Promise<DeployKey[]> {
    let p = this.#lists.get(repo);
    if (!p) {
      p = this.forge.list(repo);
      this.#lists.set(repo, p);
      p.catch(() => this.#lists.delete(repo));
    }
    return p;
  }

  async listAll(repos: readonly string[]): Promise<Map<string, DeployKey[]>> {
    const out = new Map<string, DeployKey[]>();
    const lists = await Promise.all(repos.map(async (r): Promise<[string, DeployKey[]]> => [r, await this.list(r)]));
    for (const [r, list] of lists) out.set(r, list);
    return out;
  }

  /** The forge's add is idempotent by fingerprint (a key already there is adopted), so nothing to recover here. */
  async add(repo: string, key: { title: string; publicKey: string; readOnly: true }): Promise<DeployKey | undefined> {
    const res = await this.forge.add(repo, key);
    if (res.pending) return undefined;
    const list = await this.list(repo);
    if (!list.some((k) => k.id === res.key.id)) list.push(res.key);
    return res.key;
  }

  async remove(repo: string, id: string): Promise<void> {
    await this.forge.remove(repo, id);
    const list = await this.list(repo);
    const i = list.findIndex((k) => k.id === id);
    if (i >= 0) list.splice(i, 1);
  }
}

/** Public view of decrypted keys (fingerprints cached per key text). */
export class KeyViewer {
  readonly #cache = new Map<string, PublicKeyInfo>();
  /** `managed`: config repos. An unreadable entry for another repo is the user's business and skipped. */
  constructor(readonly factory: KeyFactory, readonly managed?: readonly string[]) {}
  view(keys: HostKeys, file: string): HostKeysView {
    const out: HostKeysView = { current: {}, next: {}, previous: {} };
    for (const slot of ['current', 'next', 'previous'] as const) {
      for (const [repo, text] of Object.entries(keys[slot])) {
        let info = this.#cache.get(text);
        if (!info) {
          try {
            info = this.factory.inspect(text, `${file}: ${slot === 'current' ? 'deploy-keys' : `deploy-keys-${slot}`}.${repo}`);
          } catch (e) {
            if (!this.managed || this.managed.includes(repo)) throw e;
            continue;
          }
          this.#cache.set(text, info);
        }
        out[slot][repo] = info;
      }
    }
    return out;
  }
}

export interface KeySummary {
  repo: string;
  slot: 'current' | 'next' | 'previous';
  fingerprint: string;
  publicKey: string;
  forgeId?: string;
  status: 'registered' | 'pending' | 'stored';
}

export interface HostResult {
  host: string;
  plan: Plan;
  /** Step lines as executed (empty for --dry-run or when nothing was to do). */
  done: string[];
  dryRun: boolean;
  /** Resumed an interrupted command (journal found). */
  resumed?: { command: string; startedAt: string; step?: string };
  keys: KeySummary[];
  activationFile?: string;
}

interface Session {
  deps: LifecycleDeps;
  cache: ForgeCache;
  viewer: KeyViewer;
  host: string;
  file: string;
  keys: HostKeys;
  state: HostState;
  listings: Map<string, DeployKey[]>;
  done: string[];
  counters: Map<string, number>;
  /** Repos whose new key is only pending (manual forge): never promoted before it is confirmed. */
  pendingNext: Set<string>;
}

async function fault(s: Session, name: string): Promise<void> {
  await s.deps.fault?.(name);
}

function summarize(s: Session): KeySummary[] {
  const out: KeySummary[] = [];
  for (const [repo, rs] of Object.entries(s.state.repos)) {
    for (const slot of ['current', 'next', 'previous'] as const) {
      const r = rs[slot];
      if (!r) continue;
      out.push({
        repo,
        slot,
        fingerprint: r.fingerprint,
        publicKey: r.publicKey,
        ...(r.forgeId ? { forgeId: r.forgeId } : {}),
        status: r.forgeId ? 'registered' : r.pending ? 'pending' : 'stored',
      });
    }
  }
  return out;
}

function refreshState(s: Session): void {
  const now = s.deps.clock.now();
  const view = s.viewer.view(s.keys, s.file);
  s.state.repos = deriveRepos(view, s.state, s.listings, now, (repo) => deployKeyTitle(s.host, repo));
}

async function saveState(s: Session): Promise<void> {
  s.state.updatedAt = s.deps.clock.now().toISOString();
  await s.deps.states.save(s.state);
}

function stepName(s: Session, step: Step): string {
  const base =
    step.op === 'forge-add' ? `forge-add:${step.repo}:${step.slot}`
    : step.op === 'forge-remove' ? `forge-remove:${step.repo}:${step.id}`
    : step.op === 'record' ? `record:${step.repo}:${step.slot}`
    : step.op;
  const n = (s.counters.get(base) ?? 0) + 1;
  s.counters.set(base, n);
  return step.op === 'write-host-file' || step.op === 'updatekeys' ? `${base}:${n}` : base;
}

async function runStep(s: Session, planned: Step): Promise<void> {
  let step = planned;
  const { deps, host } = s;
  const now = () => deps.clock.now();
  const name = stepName(s, step);
  switch (step.op) {
    case 'add-recipient': {
      const recipient = step.recipient;
      await withConfigLock(deps, () => required(deps.sops, 'sops').addHostRecipient(host, recipient));
      s.state.ageRecipient = step.recipient;
      await saveState(s);
      await deps.log.append({ action: 'add-recipient', host, detail: step.recipient });
      break;
    }
    case 'remove-recipient': {
      const recipient = step.recipient;
      const removed = await withConfigLock(deps, () => required(deps.sops, 'sops').removeHostRecipient(host, recipient));
      delete s.state.ageRecipient;
      await saveState(s);
      await deps.log.append({ action: 'remove-recipient', host, detail: removed.join(',') || (step.recipient ?? '') });
      break;
    }
    case 'updatekeys': {
      const drop = step.drop ?? [];
      if (drop.length) {
        // updatekeys encrypts for what .sops.yaml names now: a rule that still lists the
        // revoked recipient (literally, not through the host's anchor) would keep it.
        const still = ((await required(deps.sops, 'sops').expectedRecipients(step.file)) ?? []).filter((r) => drop.includes(r));
        if (still.length) {
          throw new DeployKeysError(`.sops.yaml still encrypts ${step.file} for ${host}'s recipient ${still.join(', ')}`, {
            hint: `remove it from the creation rule for that file by hand, then re-run "deploy-keys revoke ${host}"`,
          });
        }
      }
      await required(deps.sops, 'sops').updateKeys(step.file);
      await deps.log.append({ action: 'updatekeys', host, detail: step.file });
      break;
    }
    case 'write-host-file': {
      const edits = step.edits.filter((e) => !(e.type === 'promote' && s.pendingNext.has(e.repo)));
      if (edits.length === 0) break;
      step = { ...step, edits };
      const generated: { repo: string; fingerprint: string }[] = [];
      for (const e of step.edits) {
        if (e.type === 'generate') {
          const k = deps.keys.generate(e.title);
          s.keys[e.slot][e.repo] = k.privateKey;
          generated.push({ repo: e.repo, fingerprint: k.fingerprint });
        } else if (e.type === 'promote') {
          const next = s.keys.next[e.repo];
          if (next === undefined) throw new DeployKeysError(`${s.file}: deploy-keys-next.${e.repo} vanished during the run`);
          const cur = s.keys.current[e.repo];
          if (cur !== undefined) s.keys.previous[e.repo] = cur;
          s.keys.current[e.repo] = next;
          s.keys.next = withoutKey(s.keys.next, e.repo);
        } else {
          s.keys[e.slot] = withoutKey(s.keys[e.slot], e.repo);
        }
      }
      await deps.secrets.save(host, s.keys);
      refreshState(s);
      await saveState(s);
      for (const e of step.edits) {
        const rs = s.state.repos[e.repo];
        if (e.type === 'generate') {
          const fp = generated.find((g) => g.repo === e.repo)?.fingerprint ?? '';
          await deps.log.append({ action: 'store-key', host, repo: e.repo, fingerprint: fp, detail: e.slot });
        } else if (e.type === 'promote') {
          await deps.log.append({ action: 'promote', host, repo: e.repo, fingerprint: rs?.current?.fingerprint ?? '', ...(rs?.current?.forgeId ? { keyId: rs.current.forgeId } : {}) });
        } else {
          await deps.log.append({ action: 'drop-key', host, repo: e.repo, detail: e.slot });
        }
      }
      break;
    }
    case 'forge-add': {
      const text = s.keys[step.slot][step.repo];
      if (text === undefined) throw new DeployKeysError(`${s.file}: the key for ${step.repo} is missing; re-run the command`);
      const info = s.viewer.view({ ...emptyHostKeys(), current: { [step.repo]: text } }, s.file).current[step.repo];
      if (info === undefined) throw new DeployKeysError(`${s.file}: the key for ${step.repo} could not be read`);
      if (step.fingerprint && step.fingerprint !== info.fingerprint) {
        throw new DeployKeysError(`${s.file}: the key for ${step.repo} changed during the run; re-run the command`);
      }
      const key = await s.cache.add(step.repo, { title: step.title, publicKey: info.publicKey, readOnly: true });
      await fault(s, `${name}:call`);
      const rec = s.state.repos[step.repo]?.[step.slot];
      if (rec?.fingerprint === info.fingerprint) {
        if (key) {
          rec.forgeId = key.id;
          rec.registeredAt = key.createdAt ?? now().toISOString();
          delete rec.pending;
        } else rec.pending = true;
      }
      if (!key && step.slot === 'next') s.pendingNext.add(step.repo);
      await saveState(s);
      await deps.log.append({
        action: key ? 'register' : 'register-pending',
        host,
        repo: step.repo,
        fingerprint: info.fingerprint,
        ...(key ? { keyId: key.id } : {}),
      });
      break;
    }
    case 'record': {
      const rec = s.state.repos[step.repo]?.[step.slot];
      if (rec?.fingerprint === step.fingerprint) {
        rec.forgeId = step.forgeId;
        delete rec.pending;
      }
      await saveState(s);
      await deps.log.append({ action: 'record', host, repo: step.repo, keyId: step.forgeId, fingerprint: step.fingerprint });
      break;
    }
    case 'forge-remove': {
      try {
        await s.cache.remove(step.repo, step.id);
      } catch (e) {
        const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
        throw new DeployKeysError(`cannot delete deploy key ${step.id} (${step.fingerprint}) from ${step.repo}: ${why}`, {
          hint: 'nothing after this step was done; fix the cause and re-run the same command',
          cause: e,
        });
      }
      for (const rs of Object.values(s.state.repos)) {
        for (const r of [rs.current, rs.next, rs.previous]) if (r?.fingerprint === step.fingerprint) delete r.forgeId;
      }
      await saveState(s);
      await deps.log.append({ action: 'forge-remove', host, repo: step.repo, keyId: step.id, fingerprint: step.fingerprint, detail: step.reason });
      break;
    }
    case 'purge-host-file': {
      await deps.secrets.purge(host);
      s.keys = emptyHostKeys();
      refreshState(s);
      await saveState(s);
      await deps.log.append({ action: 'purge-host-file', host, detail: step.file });
      break;
    }
    case 'write-activation': {
      await required(deps.activation, 'activation').write(host, currentPublicKeys(s.viewer.view(s.keys, s.file)));
      await deps.log.append({ action: 'write-activation', host, detail: step.file });
      break;
    }
    case 'mark-revoked': {
      // The host holds no key any more: its records go (the fingerprints stay in revokedFingerprints).
      refreshState(s);
      s.state.revoked = { at: now().toISOString(), purged: step.purged };
      await saveState(s);
      await deps.log.append({ action: 'revoke', host, detail: step.purged ? 'purged' : 'keys removed' });
      break;
    }
  }
  if (s.state.operation) {
    s.state.operation.step = name;
    await saveState(s);
  }
  await fault(s, name);
}

/** Executes `plan` for the session; steps run strictly in order and stop at the first error. */
async function execute(s: Session, plan: Plan): Promise<void> {
  if (!hasChanges(plan) && plan.steps.length === 0) return;
  const mutating = hasChanges(plan);
  if (mutating) {
    s.state.operation = { command: plan.command, startedAt: s.deps.clock.now().toISOString(), pid: process.pid };
    await saveState(s);
  }
  for (const step of plan.steps) {
    s.done.push(describeStep(step, s.host));
    await runStep(s, step);
  }
  delete s.state.operation;
  await saveState(s);
}

/** `.sops.yaml` is shared by all hosts: its read-modify-write runs under its own lock. */
async function withConfigLock<T>(deps: LifecycleDeps, fn: () => Promise<T>): Promise<T> {
  if (!deps.lockDir) return fn();
  let lock: Lock | undefined;
  for (let i = 0; ; i++) {
    try {
      lock = await acquireLock(deps.lockDir, '_sops-config', 'edit .sops.yaml', deps.clock.now());
      break;
    } catch (e) {
      if (i >= 50) throw e;
      await new Promise((r) => setTimeout(r, 100)); // held only for one small file write
    }
  }
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

async function withLock<T>(deps: LifecycleDeps, host: string, command: string, dryRun: boolean, fn: () => Promise<T>): Promise<T> {
  if (dryRun || !deps.lockDir) return fn();
  const lock: Lock = await acquireLock(deps.lockDir, host, command, deps.clock.now());
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

interface Loaded {
  session: Session;
  input: PlanInput;
  resumed?: HostResult['resumed'];
}

async function load(deps: LifecycleDeps, cache: ForgeCache, viewer: KeyViewer, host: string, opts: { allowUndecryptable?: boolean } = {}): Promise<Loaded> {
  const file = deps.secrets.path(host);
  let keys: HostKeys | undefined;
  try {
    keys = await deps.secrets.load(host);
  } catch (e) {
    if (!opts.allowUndecryptable) throw e;
    keys = undefined;
  }
  const prior = await deps.states.load(host);
  const state: HostState = prior ? structuredClone(prior) : newState(host, deps.clock.now());
  const listings = await cache.listAll(deps.repos);
  const view = keys ? viewer.view(keys, file) : undefined;
  const session: Session = { deps, cache, viewer, host, file, keys: keys ?? emptyHostKeys(), state, listings, done: [], counters: new Map(), pendingNext: new Set() };
  const input: PlanInput = { host, repos: deps.repos, file, keys: view, state: prior, listings, now: deps.clock.now() };
  const resumed = prior?.operation ? { command: prior.operation.command, startedAt: prior.operation.startedAt, ...(prior.operation.step ? { step: prior.operation.step } : {}) } : undefined;
  return { session, input, ...(resumed ? { resumed } : {}) };
}

/** rotate and --finish need a provisioned host: a typo must not create state for a new name. */
function assertKnownHost(loaded: Loaded): void {
  if (!loaded.input.keys && !loaded.input.state) {
    throw new DeployKeysError(`${loaded.session.host}: no host file ${loaded.session.file} and no state`, {
      hint: `check the name, or provision it with "deploy-keys vm-fresh ${loaded.session.host}"`,
    });
  }
}

async function finishRun(loaded: Loaded, plan: Plan, dryRun: boolean): Promise<HostResult> {
  const s = loaded.session;
  if (!dryRun) {
    if (hasChanges(plan) && s.deps.confirm && !(await s.deps.confirm(plan))) {
      throw new DeployKeysError(`${plan.command} ${s.host}: aborted, nothing changed`);
    }
    await execute(s, plan);
    if (plan.steps.length === 0 && (s.state.operation || !(await s.deps.states.load(s.host)))) {
      // Nothing to do, but a stale journal or a missing sidecar: write the reconciled state.
      refreshState(s);
      delete s.state.operation;
      await saveState(s);
    }
  }
  return {
    host: s.host,
    plan,
    done: dryRun ? [] : s.done,
    dryRun,
    ...(loaded.resumed ? { resumed: loaded.resumed } : {}),
    keys: summarize(s),
  };
}

export interface VmFreshRunOptions {
  dryRun: boolean;
  /** Age recipient converted from --host-key. */
  hostRecipient?: string;
}

export class Lifecycle {
  readonly cache: ForgeCache;
  readonly viewer: KeyViewer;
  constructor(readonly deps: LifecycleDeps) {
    this.cache = new ForgeCache(deps.forge);
    this.viewer = new KeyViewer(deps.keys, deps.repos);
  }

  async vmFresh(host: string, opts: VmFreshRunOptions): Promise<HostResult> {
    const deps = this.deps;
    return withLock(deps, host, 'vm-fresh', opts.dryRun, async () => {
      const loaded = await load(deps, this.cache, this.viewer, host);
      let hostKey;
      if (opts.hostRecipient) {
        if (!deps.sops) throw new DeployKeysError('--host-key needs the SOPS configuration support');
        const expected = await deps.sops.expectedRecipients(loaded.session.file);
        const inFile = (await deps.secrets.recipients(host))?.includes(opts.hostRecipient) ?? false;
        hostKey = { recipient: opts.hostRecipient, inSopsConfig: expected?.includes(opts.hostRecipient) ?? false, inFile };
      }
      if (!loaded.input.keys && !hostKey && deps.sops && (await deps.sops.expectedRecipients(loaded.session.file)) === undefined) {
        throw new DeployKeysError(`no .sops.yaml creation rule matches ${loaded.session.file}`, {
          hint: 'add a creation rule for the host files (path_regex), or pass --host-key to add one for this host',
        });
      }
      const plan = await withActivation(deps, planVmFresh(loaded.input, hostKey ? { hostKey } : {}), loaded.input.keys);
      if (loaded.input.state?.revoked && hasChanges(plan) && !opts.dryRun) {
        // Provisioning the name again: keep the old fingerprints for audit, clear the flag.
        delete loaded.session.state.revoked;
      }
      const res = await finishRun(loaded, plan, opts.dryRun);
      return { ...res, ...(deps.activation ? { activationFile: deps.activation.path(host) } : {}) };
    });
  }

  async rotate(host: string, opts: { dryRun: boolean; olderThanDays: number; force?: boolean }): Promise<HostResult> {
    return withLock(this.deps, host, 'rotate', opts.dryRun, async () => {
      const loaded = await load(this.deps, this.cache, this.viewer, host);
      assertKnownHost(loaded);
      const planned = planRotate(loaded.input, { olderThanDays: opts.olderThanDays, force: opts.force ?? false });
      // A resumed run may have promoted keys before it was interrupted: the activation script must follow.
      const plan = planned.steps.some((st) => st.op === 'write-host-file') || loaded.resumed ? await withActivation(this.deps, planned, loaded.input.keys) : planned;
      return finishRun(loaded, plan, opts.dryRun);
    });
  }

  async finish(host: string, opts: { dryRun: boolean; graceDays: number; force: boolean }): Promise<HostResult> {
    return withLock(this.deps, host, 'rotate --finish', opts.dryRun, async () => {
      const loaded = await load(this.deps, this.cache, this.viewer, host);
      assertKnownHost(loaded);
      const plan = planFinish(loaded.input, { graceDays: opts.graceDays, force: opts.force });
      return finishRun(loaded, plan, opts.dryRun);
    });
  }

  async revoke(host: string, opts: { dryRun: boolean; purge: boolean }): Promise<HostResult> {
    const deps = this.deps;
    return withLock(deps, host, 'revoke', opts.dryRun, async () => {
      // Without --purge the keys must be removed from the host file, so it must decrypt.
      const loaded = await load(deps, this.cache, this.viewer, host, { allowUndecryptable: opts.purge });
      const prior = loaded.input.state;
      let readable: { file: string; keys: string[] }[] = [];
      let inSopsConfig = false;
      let revokedRecipients: string[] = [];
      if (deps.sops) {
        const inConfig = await deps.sops.hostRecipient(host);
        const recipients = [...new Set([prior?.ageRecipient, inConfig, ...(prior?.revokedRecipients ?? [])].filter((r): r is string => Boolean(r)))].sort();
        if (recipients.length) loaded.session.state.revokedRecipients = recipients;
        revokedRecipients = recipients;
        const seen = new Map<string, { file: string; keys: string[] }>();
        for (const r of recipients) for (const f of await deps.sops.filesReadableBy(r)) seen.set(f.file, f);
        readable = [...seen.values()];
        inSopsConfig = inConfig !== undefined;
      }
      const plan = planRevoke(loaded.input, { purge: opts.purge, readable, inSopsConfig, recipients: revokedRecipients });
      // Remember every fingerprint the host had, so audit can flag them later.
      const fps = new Set(prior?.revokedFingerprints ?? []);
      for (const st of plan.steps) if (st.op === 'forge-remove') fps.add(st.fingerprint);
      for (const rs of Object.values(prior?.repos ?? {})) for (const r of [rs.current, rs.next, rs.previous]) if (r) fps.add(r.fingerprint);
      if (loaded.input.keys) for (const slot of ['current', 'next', 'previous'] as const) for (const i of Object.values(loaded.input.keys[slot])) fps.add(i.fingerprint);
      loaded.session.state.revokedFingerprints = [...fps].sort();
      return finishRun(loaded, plan, opts.dryRun);
    });
  }
}

export interface AuditOptions {
  maxAgeDays: number;
  unusedDays: number;
}

/** status and audit: public data only, each repo listed once per run. */
export async function collectStatus(deps: LifecycleDeps, cache: ForgeCache, hosts: readonly string[] | undefined, maxAgeDays: number): Promise<{ hosts: HostStatus[]; missing: string[] }> {
  const names = hosts?.length ? [...hosts] : await deps.states.hosts();
  const [states, listings] = await Promise.all([Promise.all(names.map((h) => deps.states.load(h))), cache.listAll(deps.repos)]);
  const now = deps.clock.now();
  const out: HostStatus[] = [];
  const missing: string[] = [];
  names.forEach((h, i) => {
    const st = states[i];
    if (!st) missing.push(h);
    else out.push(hostStatus(st, deps.repos, listings, now, maxAgeDays));
  });
  return { hosts: out, missing };
}

export async function collectAudit(deps: LifecycleDeps, cache: ForgeCache, opts: AuditOptions): Promise<{ findings: Finding[]; hosts: number; keys: number }> {
  const names = await deps.states.hosts();
  const [states, listings] = await Promise.all([Promise.all(names.map((h) => deps.states.load(h))), cache.listAll(deps.repos)]);
  const live = states.filter((s): s is HostState => s !== undefined);
  const recipients = new Map<string, { file: string; actual: string[] | undefined; expected: string[] | undefined }>();
  for (const st of live) {
    if (st.revoked) continue;
    const file = deps.secrets.path(st.host);
    const actual = await deps.secrets.recipients(st.host);
    const expected = actual === undefined || !deps.sops ? undefined : await deps.sops.expectedRecipients(file);
    recipients.set(st.host, { file, actual, expected });
  }
  const findings = auditFindings({ repos: deps.repos, states: live, listings, recipients, now: deps.clock.now(), ...opts });
  return { findings, hosts: live.length, keys: [...listings.values()].reduce((n, l) => n + l.length, 0) };
}

export { describeStep };

/** A port the plan needs: the planner only emits its steps when the port was given. */
function required<T>(port: T | undefined, name: string): T {
  if (port === undefined) throw new DeployKeysError(`internal error: the plan needs the ${name} port, which was not given`);
  return port;
}
