/**
 * The life-cycle commands for one host: load what is stored and registered,
 * gather the facts the planner needs, plan (pure, core/plan.ts), confirm, and
 * hand the plan to the executor. One command per host at a time (its lock).
 */
import { DeployKeysError } from '../../errors.js';
import { hasChanges, identityMissing, planFinish, planRevoke, planRotate, planVmFresh, revokedRecipients, type ActivationFacts, type HostResult, type NewHostKeyFacts, type Plan, type PlanInput } from '../core/plan.js';
import { newState } from '../core/state.js';
import { SLOTS, type HostKeys, type HostKeysView, type HostState, type ReadableFile } from '../core/types.js';
import type { LifecycleDeps } from './deps.js';
import { Executor } from './executor.js';
import { ForgeCache } from './forge-cache.js';
import { KeyViewer } from './key-viewer.js';

export interface VmFreshRunOptions {
  dryRun: boolean;
  /** Age recipient converted from --host-key. */
  hostRecipient?: string;
  /** --new-host-key: make the host's ssh host key here (`force`: replace the one it has). */
  newHostKey?: { force: boolean };
}

export interface RevokeRunOptions {
  dryRun: boolean;
  /** Delete the host file instead of removing the keys from it. */
  purge: boolean;
  /** Re-encrypt what the host could read under new data keys (default true); false: updatekeys only. */
  rotateDataKey?: boolean;
}

/** Nothing was changed: the operator's age identity is missing. */
function noIdentity(what: string): DeployKeysError {
  return new DeployKeysError(`${what}; nothing changed`, {
    hint: 'set SOPS_AGE_KEY_FILE (or SOPS_AGE_KEY) to your age identity (one of the recipients in .sops.yaml), or put it in ~/.config/sops/age/keys.txt',
  });
}

interface Loaded {
  input: PlanInput;
  prior: HostState | undefined;
  executor: Executor;
}

export class Lifecycle {
  /** The run's forge listings, shared by every host of the run. */
  readonly cache: ForgeCache;
  readonly viewer: KeyViewer;
  constructor(readonly deps: LifecycleDeps) {
    this.cache = new ForgeCache(deps.forge);
    this.viewer = new KeyViewer(deps.keys, deps.repos);
  }

  /** Checks the forge for every managed repo before any host is touched; its listings serve the whole run. */
  preflight(): Promise<void> {
    return this.cache.preflight(this.deps.repos);
  }

  async vmFresh(host: string, opts: VmFreshRunOptions): Promise<HostResult> {
    const { deps } = this;
    return this.#locked(host, 'vm-fresh', opts.dryRun, async () => {
      const loaded = await this.#load(host, 'assigned');
      const sopsRule = await deps.sops.expectedRecipients(loaded.input.file);
      const recipient = opts.hostRecipient;
      const hostFileRecipients = await deps.secrets.recipients(host);
      const hostKey = recipient === undefined ? undefined : { recipient, inFile: hostFileRecipients?.includes(recipient) ?? false };
      const newHostKey = opts.newHostKey ? await this.#newHostKeyFacts(host, loaded.prior, hostFileRecipients, opts.newHostKey.force) : undefined;
      const readable = await this.#readableByFormer(loaded.prior, newHostKey, recipient);
      const activation = await this.#activation(host, loaded.input.keys);
      const plan = planVmFresh(loaded.input, { sopsRule, readable, ...(hostKey ? { hostKey } : {}), ...(newHostKey ? { newHostKey } : {}), ...(activation ? { activation } : {}) });
      const res = await this.#run(loaded, plan, opts.dryRun);
      return { ...res, ...(activation ? { activationFile: activation.file } : {}) };
    });
  }

  async rotate(host: string, opts: { dryRun: boolean; olderThanDays: number; force?: boolean }): Promise<HostResult> {
    return this.#locked(host, 'rotate', opts.dryRun, async () => {
      const loaded = await this.#load(host, 'assigned');
      const activation = await this.#activation(host, loaded.input.keys);
      const plan = planRotate(loaded.input, { olderThanDays: opts.olderThanDays, force: opts.force ?? false, ...(activation ? { activation } : {}) });
      return this.#run(loaded, plan, opts.dryRun);
    });
  }

  async finish(host: string, opts: { dryRun: boolean; graceDays: number; force: boolean }): Promise<HostResult> {
    return this.#locked(host, 'rotate --finish', opts.dryRun, async () => {
      const loaded = await this.#load(host, 'assigned');
      return this.#run(loaded, planFinish(loaded.input, { graceDays: opts.graceDays, force: opts.force }), opts.dryRun);
    });
  }

  async revoke(host: string, opts: RevokeRunOptions): Promise<HostResult> {
    const { deps } = this;
    return this.#locked(host, 'revoke', opts.dryRun, async () => {
      const identity = await deps.sops.hasIdentity();
      // Without --purge the keys must be removed from the host file, so it must decrypt.
      if (!identity && !opts.purge) throw noIdentity(`revoke ${host} removes the keys from ${deps.secrets.path(host)} and re-encrypts the files the host could read, which needs your age identity, and none was found`);
      const loaded = await this.#load(host, 'all', opts.purge);
      const inSopsConfig = await deps.sops.hostRecipient(host);
      const readable = new Map<string, ReadableFile>();
      for (const r of revokedRecipients(loaded.prior, inSopsConfig)) for (const f of await deps.sops.filesReadableBy(r)) readable.set(f.file, f);
      const plan = planRevoke(loaded.input, { purge: opts.purge, rotateDataKey: opts.rotateDataKey ?? true, identity, inSopsConfig, readable: [...readable.values()] });
      const missing = identity ? undefined : identityMissing(plan);
      if (missing && !opts.dryRun) throw noIdentity(missing);
      return this.#run(loaded, plan, opts.dryRun);
    });
  }

  #locked<T>(host: string, command: string, dryRun: boolean, fn: () => Promise<T>): Promise<T> {
    return dryRun ? fn() : this.deps.locks.withHost(host, command, fn);
  }

  /**
   * `assigned`: the repos the config gives the host, and those it lost while
   * still holding a key for them (withdrawn); `all`: every managed repo (revoke
   * looks everywhere). Only those repos are listed on the forge.
   */
  async #load(host: string, scope: 'assigned' | 'all', allowUndecryptable = false): Promise<Loaded> {
    const { deps } = this;
    const repos = scope === 'all' ? deps.repos : deps.reposFor(host, { required: true });
    const file = deps.secrets.path(host);
    let keys: HostKeys | undefined;
    try {
      keys = await deps.secrets.load(host);
    } catch (e) {
      if (!allowUndecryptable) throw e;
    }
    const prior = await deps.states.load(host);
    const view = keys ? this.viewer.view(keys, file) : undefined;
    const held = new Set([...SLOTS.flatMap((s) => Object.keys(view?.[s] ?? {})), ...Object.keys(prior?.repos ?? {})]);
    const withdrawn = deps.repos.filter((r) => !repos.includes(r) && held.has(r));
    const listings = await this.cache.listAll([...repos, ...withdrawn]);
    const now = new Date(deps.clock.now());
    const input: PlanInput = { host, repos, ...(withdrawn.length ? { withdrawn } : {}), file, keys: view, state: prior, listings, now };
    const state = prior ? structuredClone(prior) : newState(host, now);
    const executor = new Executor(deps, this.cache, this.viewer, { host, file, keys: keys ?? { current: {}, next: {}, previous: {} }, state, listings });
    return { input, prior, executor };
  }

  async #newHostKeyFacts(host: string, prior: HostState | undefined, hostFileRecipients: readonly string[] | undefined, force: boolean): Promise<NewHostKeyFacts> {
    const { deps } = this;
    if (!deps.hostKeys) throw new DeployKeysError('internal error: --new-host-key without a host key store');
    const [stored, rule, anchors] = await Promise.all([deps.hostKeys.load(host), deps.sops.hostKeysRule(host), deps.sops.hostRecipients()]);
    // Every recipient another host has or had: a host key file must never be readable by one.
    const otherHosts = new Set<string>();
    for (const [h, r] of anchors) if (h !== host) otherHosts.add(r);
    for (const h of await deps.states.hosts()) {
      if (h === host) continue;
      const st = await deps.states.load(h);
      for (const r of [st?.ageRecipient, ...(st?.retiredRecipients ?? []), ...(st?.revokedRecipients ?? [])]) if (r) otherHosts.add(r);
    }
    return { file: deps.hostKeys.path(host), stored, rule, inSopsConfig: anchors.get(host), hostFileRecipients, otherHosts, force };
  }

  /**
   * Files encrypted for each recipient the host had (retired ones) or may lose
   * in this run (replaced by --host-key or --new-host-key --force), found from
   * their metadata. The recipient it keeps is not looked for.
   */
  async #readableByFormer(prior: HostState | undefined, nk: NewHostKeyFacts | undefined, hostRecipient: string | undefined): Promise<Map<string, string[]>> {
    const kept = nk ? (nk.force ? undefined : nk.stored?.recipient) : hostRecipient;
    const candidates = new Set(prior?.retiredRecipients ?? []);
    if (nk || hostRecipient !== undefined) for (const r of [prior?.ageRecipient, nk?.inSopsConfig, nk?.stored?.recipient]) if (r) candidates.add(r);
    if (kept !== undefined) candidates.delete(kept);
    const out = new Map<string, string[]>();
    for (const r of candidates) out.set(r, (await this.deps.sops.filesReadableBy(r)).map((f) => f.file));
    return out;
  }

  /** Where the host's activation script goes and whether it matches the current keys (commands that keep one). */
  async #activation(host: string, view: HostKeysView | undefined): Promise<ActivationFacts | undefined> {
    const port = this.deps.activation;
    if (!port) return undefined;
    const publicKeys: Record<string, string> = {};
    for (const [repo, info] of Object.entries(view?.current ?? {})) publicKeys[repo] = info.publicKey;
    return { file: port.path(host), current: await port.isCurrent(host, publicKeys) };
  }

  async #run(loaded: Loaded, plan: Plan, dryRun: boolean): Promise<HostResult> {
    const { executor, prior } = loaded;
    if (!dryRun) {
      if (hasChanges(plan) && this.deps.confirm && !(await this.deps.confirm(plan))) {
        throw new DeployKeysError(`${plan.command} ${plan.host}: aborted, nothing changed`);
      }
      await executor.execute(plan, prior);
    }
    const op = prior?.operation;
    return {
      host: plan.host,
      plan,
      done: dryRun ? [] : executor.done,
      dryRun,
      ...(op ? { resumed: { command: op.command, startedAt: op.startedAt, ...(op.step ? { step: op.step } : {}) } } : {}),
      keys: executor.summary(),
    };
  }
}
