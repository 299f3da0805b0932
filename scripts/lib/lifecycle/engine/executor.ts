/**
 * Runs a plan, step by step, strictly in order, stopping at the first error.
 * Order is what makes it crash-safe:
 *
 *  1. a new private key is written (encrypted, atomically) into the host file
 *     before the forge ever sees its public half;
 *  2. the forge id is recorded in the public sidecar after the forge answers;
 *  3. an old key leaves the forge before its private half leaves the host file.
 *
 * So at every instant each registered key has its private half stored, and a
 * re-run re-plans from what is actually stored and registered and converges.
 * The sidecar's `operation` field is the journal: set before the first change,
 * cleared at the end; a re-run reports it.
 *
 * The sidecar is written (atomically, with fsyncs) once before the first
 * change, once at the end, and in between only after a step that recorded
 * what a re-run could not find again: a pending manual registration (the
 * forge cannot be listed), the host's recipient and host key as added
 * (add-recipient, create-host-key; a replaced recipient stays retired until
 * the files it could read are re-keyed) and revoke's record of the
 * fingerprints and recipients it is about to remove. Everything else in it (forge ids,
 * creation and retirement times) a re-run derives again from the host file
 * and the forge listing, so a crash between two writes costs nothing.
 */
import { DeployKeysError } from '../../errors.js';
import { deployKeyTitle } from '../../names.js';
import { describeStep, hasChanges, isBookkeeping, isReencryption, slotEntry, type Plan, type Step } from '../core/plan.js';
import { deriveRepos, noteRegistrant } from '../core/state.js';
import { SLOTS, withoutKey, type AuditEntry, type DeployKey, type HostKeyInfo, type HostKeys, type HostState, type KeyRecord, type KeySummary, type Slot } from '../core/types.js';
import type { ForgeCache } from './forge-cache.js';
import type { KeyViewer } from './key-viewer.js';
import type { LifecycleDeps } from './deps.js';

/** One host's data as loaded for a run; the executor changes it as the steps go. */
interface HostRun {
  host: string;
  file: string;
  keys: HostKeys;
  /** The sidecar as it will be written (a copy of the loaded one). */
  state: HostState;
  listings: ReadonlyMap<string, readonly DeployKey[]>;
}

type LogLine = Omit<AuditEntry, 'time' | 'actor'>;

export class Executor {
  readonly done: string[] = [];
  readonly #counters = new Map<string, number>();
  /** Repos whose new key is only pending (manual forge): never promoted before it is confirmed. */
  readonly #pendingNext = new Set<string>();
  /** The host key this run created (create-host-key), for the add-recipient step after it. */
  #hostKey: HostKeyInfo | undefined;
  /** The last step recorded something only the sidecar knows: write it before the next step. */
  #mustSave = false;

  constructor(
    readonly deps: LifecycleDeps,
    readonly cache: ForgeCache,
    readonly viewer: KeyViewer,
    readonly run: HostRun,
  ) {}

  /**
   * Executes `plan`. A plan that changes something is journaled; an empty plan
   * still writes the sidecar when it is missing or holds a stale journal.
   */
  async execute(plan: Plan, prior: HostState | undefined): Promise<void> {
    if (plan.steps.length === 0) {
      if (prior && !prior.operation) return;
      this.#refresh();
      delete this.run.state.operation;
      await this.#save();
      return;
    }
    if (plan.steps.some((s) => s.op === 'write-activation') && !this.deps.activation) {
      throw new DeployKeysError('internal error: the plan writes an activation script, but no activation port was given');
    }
    if (hasChanges(plan)) {
      this.run.state.operation = { command: plan.command, startedAt: this.#now().toISOString(), pid: process.pid };
      await this.#save();
    }
    for (const step of plan.steps) {
      if (!isBookkeeping(step)) this.done.push(describeStep(step, this.run.host));
      const name = this.#stepName(step);
      await this.#run(step, name);
      if (this.run.state.operation) this.run.state.operation.step = name;
      if (this.#mustSave) await this.#save();
      await this.deps.fault?.(name);
    }
    // The records follow the host file as it now is, also where an earlier
    // run stopped before writing them.
    this.#refresh();
    delete this.run.state.operation;
    await this.#save();
  }

  /** The keys as the sidecar now records them. */
  summary(): KeySummary[] {
    const out: KeySummary[] = [];
    for (const [repo, rs] of Object.entries(this.run.state.repos)) {
      for (const slot of SLOTS) {
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

  #now(): Date {
    return new Date(this.deps.clock.now());
  }

  /** The sidecar's key records, rebuilt from the host file's keys. */
  #refresh(): void {
    const r = this.run;
    r.state.repos = deriveRepos(this.viewer.view(r.keys, r.file), r.state, r.listings, this.#now(), (repo) => deployKeyTitle(r.host, repo));
  }

  /**
   * The sidecar's record of the key `fingerprint` in `slot`, rebuilt from the
   * host file first when the sidecar lags behind it (an earlier run stopped
   * between two of its writes).
   */
  #record(repo: string, slot: Slot, fingerprint: string): KeyRecord | undefined {
    const find = () => {
      const rec = this.run.state.repos[repo]?.[slot];
      return rec?.fingerprint === fingerprint ? rec : undefined;
    };
    const rec = find();
    if (rec) return rec;
    this.#refresh();
    return find();
  }

  async #save(): Promise<void> {
    this.run.state.updatedAt = this.#now().toISOString();
    await this.deps.states.save(this.run.state);
    this.#mustSave = false;
  }

  async #log(...lines: LogLine[]): Promise<void> {
    await this.deps.log.append(...lines);
  }

  #stepName(step: Step): string {
    const base =
      step.op === 'forge-add' ? `forge-add:${step.repo}:${step.slot}`
      : step.op === 'forge-remove' ? `forge-remove:${step.repo}:${step.id}`
      : step.op === 'record' ? `record:${step.repo}:${step.slot}`
      : step.op;
    const n = (this.#counters.get(base) ?? 0) + 1;
    this.#counters.set(base, n);
    return step.op === 'write-host-file' || isReencryption(step) ? `${base}:${n}` : base;
  }

  async #run(step: Step, name: string): Promise<void> {
    const { deps, run } = this;
    const host = run.host;
    switch (step.op) {
      case 'host-keys-rule':
        await deps.locks.withSopsConfig(() => deps.sops.addHostKeysRule(host));
        await this.#log({ action: 'add-host-keys-rule', host, detail: step.recipients.join(',') });
        return;
      case 'create-host-key':
        return this.#createHostKey(step);
      case 'record-host-key':
        run.state.hostKey = { publicKey: step.publicKey, fingerprint: step.fingerprint, createdAt: this.#now().toISOString() };
        return;
      case 'add-recipient': {
        const recipient = step.recipient ?? this.#hostKey?.recipient;
        if (recipient === undefined) throw new DeployKeysError('internal error: add-recipient without a recipient and no host key created before it');
        await deps.locks.withSopsConfig(() => deps.sops.addHostRecipient(host, recipient));
        // Files encrypted for the replaced recipient are re-keyed next; until then it is remembered.
        if (run.state.ageRecipient !== undefined && run.state.ageRecipient !== recipient) this.#retire(run.state.ageRecipient);
        run.state.ageRecipient = recipient;
        this.#mustSave = true; // a re-run finds it in .sops.yaml and plans no step that records it
        await this.#log({ action: 'add-recipient', host, detail: recipient });
        return;
      }
      case 'clear-retired': {
        const left = (run.state.retiredRecipients ?? []).filter((r) => !step.recipients.includes(r));
        if (left.length) run.state.retiredRecipients = left;
        else delete run.state.retiredRecipients;
        return;
      }
      case 'remove-recipient': {
        const recipient = step.recipient;
        const removed = await deps.locks.withSopsConfig(() => deps.sops.removeHostRecipient(host, recipient));
        delete run.state.ageRecipient;
        await this.#log({ action: 'remove-recipient', host, detail: removed.join(',') || (recipient ?? '') });
        return;
      }
      case 'updatekeys':
      case 'rotate-data-key': {
        const drop = step.drop ?? [];
        if (drop.length) {
          // updatekeys encrypts for what .sops.yaml names now: a rule that still lists the
          // revoked recipient (literally, not through the host's anchor) would keep it.
          const still = ((await deps.sops.expectedRecipients(step.file)) ?? []).filter((r) => drop.includes(r));
          if (still.length) {
            throw new DeployKeysError(`.sops.yaml still encrypts ${step.file} for ${host}'s recipient ${still.join(', ')}`, {
              hint: `remove it from the creation rule for that file by hand, then re-run "deploy-keys revoke ${host}"`,
            });
          }
        }
        // One atomic write either way: a crash leaves the file as it was (still listing the
        // revoked recipient, so the re-run finds it again) or done.
        await deps.sops.updateKeys(step.file, { rotate: step.op === 'rotate-data-key' });
        await this.#log({ action: step.op, host, detail: step.file });
        return;
      }
      case 'write-host-file':
        return this.#writeHostFile(step);
      case 'forge-add':
        return this.#forgeAdd(step, name);
      case 'record': {
        const rec = this.#record(step.repo, step.slot, step.fingerprint);
        if (rec) {
          rec.forgeId = step.forgeId;
          delete rec.pending;
        }
        await this.#log({ action: 'record', host, repo: step.repo, keyId: step.forgeId, fingerprint: step.fingerprint });
        return;
      }
      case 'record-revoked':
        run.state.revokedFingerprints = step.fingerprints;
        if (step.recipients.length) run.state.revokedRecipients = step.recipients;
        if (step.secrets.length) run.state.revokedSecrets = step.secrets;
        // What revoke removes next must stay known if it stops half way.
        this.#mustSave = true;
        return;
      case 'clear-revoked':
        // Provisioned again: the old fingerprints stay in revokedFingerprints for audit.
        delete run.state.revoked;
        return;
      case 'forge-remove': {
        try {
          await this.cache.remove(step.repo, step.id);
        } catch (e) {
          const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
          throw new DeployKeysError(`cannot delete deploy key ${step.id} (${step.fingerprint}) from ${step.repo}: ${why}`, {
            hint: 'nothing after this step was done; fix the cause and re-run the same command',
            cause: e,
          });
        }
        for (const rs of Object.values(run.state.repos)) {
          for (const r of [rs.current, rs.next, rs.previous]) if (r?.fingerprint === step.fingerprint) delete r.forgeId;
        }
        await this.#log({ action: 'forge-remove', host, repo: step.repo, keyId: step.id, fingerprint: step.fingerprint, detail: step.reason });
        return;
      }
      case 'purge-host-file':
        await deps.secrets.purge(host);
        run.keys = { current: {}, next: {}, previous: {} };
        this.#refresh();
        await this.#log({ action: 'purge-host-file', host, detail: step.file });
        return;
      case 'write-activation': {
        const publicKeys: Record<string, string> = {};
        for (const [repo, info] of Object.entries(this.viewer.view(run.keys, run.file).current)) publicKeys[repo] = info.publicKey;
        await deps.activation?.write(host, publicKeys);
        await this.#log({ action: 'write-activation', host, detail: step.file });
        return;
      }
      case 'mark-revoked':
        // The host holds no key any more: its records go (the fingerprints stay in revokedFingerprints).
        this.#refresh();
        run.state.revoked = { at: this.#now().toISOString(), purged: step.purged };
        await this.#log({ action: 'revoke', host, detail: step.purged ? 'purged' : 'keys removed' });
        return;
    }
  }

  #retire(recipient: string): void {
    const list = this.run.state.retiredRecipients ?? [];
    if (!list.includes(recipient)) this.run.state.retiredRecipients = [...list, recipient];
    // .sops.yaml no longer names it: only the sidecar knows which files still need re-keying.
    this.#mustSave = true;
  }

  async #createHostKey(step: Extract<Step, { op: 'create-host-key' }>): Promise<void> {
    const { deps, run } = this;
    if (!deps.hostKeys) throw new DeployKeysError('internal error: the plan creates a host key, but no host key store was given');
    // The rule was checked when planning; .sops.yaml may have changed since.
    const rule = await deps.sops.hostKeysRule(run.host);
    const same = rule.recipients.length === step.recipients.length && rule.recipients.every((r) => step.recipients.includes(r));
    if (!rule.present || !same) {
      throw new DeployKeysError(`.sops.yaml changed during the run: ${step.file} would now be encrypted for ${rule.recipients.join(', ') || 'nobody'}`, {
        hint: 'nothing was generated; check .sops.yaml and re-run the command',
      });
    }
    if (step.replaces !== undefined) this.#retire(step.replaces);
    const info = await deps.hostKeys.create(run.host, step.replaces !== undefined);
    this.#hostKey = info;
    run.state.hostKey = { publicKey: info.publicKey, fingerprint: info.fingerprint, createdAt: this.#now().toISOString() };
    this.#mustSave = true;
    await this.#log({ action: 'store-host-key', host: run.host, fingerprint: info.fingerprint, detail: step.file });
  }

  async #writeHostFile(planned: Extract<Step, { op: 'write-host-file' }>): Promise<void> {
    const { deps, run } = this;
    const edits = planned.edits.filter((e) => !(e.type === 'promote' && this.#pendingNext.has(e.repo)));
    if (edits.length === 0) return;
    const generated = new Map<string, string>();
    for (const e of edits) {
      if (e.type === 'generate') {
        const k = deps.keys.generate(e.title);
        this.viewer.remember(k.privateKey, { fingerprint: k.fingerprint, publicKey: k.publicKey });
        run.keys[e.slot][e.repo] = k.privateKey;
        generated.set(e.repo, k.fingerprint);
      } else if (e.type === 'promote') {
        const next = run.keys.next[e.repo];
        if (next === undefined) throw new DeployKeysError(`${run.file}: ${slotEntry('next', e.repo)} vanished during the run`);
        const cur = run.keys.current[e.repo];
        if (cur !== undefined) run.keys.previous[e.repo] = cur;
        run.keys.current[e.repo] = next;
        run.keys.next = withoutKey(run.keys.next, e.repo);
      } else {
        run.keys[e.slot] = withoutKey(run.keys[e.slot], e.repo);
      }
    }
    await deps.secrets.save(run.host, run.keys);
    this.#refresh();
    await this.#log(
      ...edits.map((e): LogLine => {
        if (e.type === 'generate') return { action: 'store-key', host: run.host, repo: e.repo, fingerprint: generated.get(e.repo) ?? '', detail: e.slot };
        if (e.type === 'delete') return { action: 'drop-key', host: run.host, repo: e.repo, detail: e.slot };
        const cur = run.state.repos[e.repo]?.current;
        return { action: 'promote', host: run.host, repo: e.repo, fingerprint: cur?.fingerprint ?? '', ...(cur?.forgeId ? { keyId: cur.forgeId } : {}) };
      }),
    );
  }

  async #forgeAdd(step: Extract<Step, { op: 'forge-add' }>, name: string): Promise<void> {
    const { deps, run } = this;
    const text = run.keys[step.slot][step.repo];
    if (text === undefined) throw new DeployKeysError(`${run.file}: the key for ${step.repo} is missing; re-run the command`);
    const info = this.viewer.info(text, `${run.file}: the key for ${step.repo}`);
    if (step.fingerprint && step.fingerprint !== info.fingerprint) {
      throw new DeployKeysError(`${run.file}: the key for ${step.repo} changed during the run; re-run the command`);
    }
    const key = await this.cache.add(step.repo, { title: step.title, publicKey: info.publicKey, readOnly: true });
    await deps.fault?.(`${name}:call`);
    const rec = this.#record(step.repo, step.slot, info.fingerprint);
    if (rec) {
      if (key) {
        rec.forgeId = key.id;
        rec.registeredAt = key.createdAt ?? this.#now().toISOString();
        delete rec.pending;
        noteRegistrant(rec, key);
      } else {
        rec.pending = true;
        this.#mustSave = true; // a manual forge cannot be listed: only the sidecar knows
      }
    }
    if (!key && step.slot === 'next') this.#pendingNext.add(step.repo);
    await this.#log({
      action: key ? 'register' : 'register-pending',
      host: run.host,
      repo: step.repo,
      fingerprint: info.fingerprint,
      ...(key ? { keyId: key.id } : {}),
    });
  }
}
