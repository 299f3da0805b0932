/**
 * Planners: pure functions of (config repos, host file view, public state,
 * forge listings, .sops.yaml facts, clock) → the exact list of changes.
 * `--dry-run` prints the plan; the executor runs it step by step. Every planner
 * is also the recovery procedure: re-planning after an interruption finishes
 * what was started, because it looks at what is actually stored and registered.
 */
import { DeployKeysError } from '../../errors.js';
import { deployKeyTitle } from '../../names.js';
import { SLOT_KEY, SLOTS, withoutKey, type DeployKey, type ExposedFile, type HostKeyInfo, type HostKeysRule, type HostKeysView, type HostState, type KeySummary, type PublicKeyInfo, type ReadableFile, type Slot } from './types.js';

export type Edit =
  /** Generate a new key and store it in `slot`. */
  | { type: 'generate'; slot: 'current' | 'next'; repo: string; title: string }
  /** next → current, current → previous (one atomic write with the other edits). */
  | { type: 'promote'; repo: string }
  | { type: 'delete'; slot: Slot; repo: string };

export type Step =
  /** The operator-only `.sops.yaml` rule for host key files, before the first host key is stored. */
  | { op: 'host-keys-rule'; recipients: string[] }
  /** A new ssh host key, stored encrypted for `recipients` (the operators) only; `replaces`: the host's age recipient until now. */
  | { op: 'create-host-key'; file: string; recipients: string[]; replaces?: string }
  /** The sidecar learns the stored host key (e.g. after a run stopped right after storing it). */
  | { op: 'record-host-key'; publicKey: string; fingerprint: string }
  /** `recipient` absent: the one of the host key this plan creates. */
  | { op: 'add-recipient'; recipient?: string }
  | { op: 'remove-recipient'; recipient?: string }
  /** `drop`: recipients (of a revoked host) that `.sops.yaml` must no longer name for the file. */
  | { op: 'updatekeys'; file: string; drop?: string[] }
  /** updatekeys under a new data key, in one write: an old copy of the key opens nothing written from now on. */
  | { op: 'rotate-data-key'; file: string; drop?: string[] }
  | { op: 'write-host-file'; file: string; create: boolean; edits: Edit[] }
  /** `fingerprint` is absent for a key this plan generates. */
  /** again: the key was registered once and is gone from the forge (someone or something removed it). */
  | { op: 'forge-add'; repo: string; slot: 'current' | 'next'; title: string; fingerprint?: string; again?: true }
  /** The key is on the forge but the public state lacks its id (e.g. interrupted right after registering). */
  | { op: 'record'; repo: string; slot: Slot; forgeId: string; fingerprint: string }
  /** Remembers what a revoked host had and could read (before the first change, so a re-run still finds it). */
  | { op: 'record-revoked'; fingerprints: string[]; recipients: string[]; secrets: ExposedFile[] }
  /** The name is provisioned again: its revoked mark goes (its old fingerprints stay flagged). */
  | { op: 'clear-revoked' }
  /** The host's former recipients no file is encrypted for any more are forgotten. */
  | { op: 'clear-retired'; recipients: string[] }
  | { op: 'forge-remove'; repo: string; id: string; fingerprint: string; title: string; reason: string }
  | { op: 'purge-host-file'; file: string }
  | { op: 'write-activation'; file: string }
  | { op: 'mark-revoked'; purged: boolean };

export interface Plan {
  command: 'vm-fresh' | 'rotate' | 'finish' | 'revoke';
  host: string;
  steps: Step[];
  /** Things deliberately not done (waiting for finish, no key yet, …). */
  notes: string[];
  /** Things an operator should look at. */
  warnings: string[];
  /** revoke: the secret values the host could read; git history keeps them, so they must be changed at their source. */
  exposed?: ExposedFile[];
}

/** What running a plan for one host gave. */
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

export interface PlanInput {
  host: string;
  /** The repos the config gives the host, config order (revoke: every managed repo). */
  repos: readonly string[];
  /**
   * Managed repos the config no longer gives the host while it still has a
   * key for them (host file or public state): vm-fresh and rotate remove
   * those keys, forge first. Absent = none.
   */
  withdrawn?: readonly string[];
  /** Host file path (for the plan text). */
  file: string;
  /** Public view of the decrypted host file; `undefined` = no file (or, for revoke --purge, not decryptable). */
  keys: HostKeysView | undefined;
  state: HostState | undefined;
  /** The forge keys of each repo in `repos` and `withdrawn`. */
  listings: ReadonlyMap<string, readonly DeployKey[]>;
  now: Date;
}

/** The activation script, when the command keeps one: where, and whether it matches the current keys. */
export interface ActivationFacts {
  file: string;
  current: boolean;
}

const DAY = 86_400_000;

export function findByFingerprint(listing: readonly DeployKey[] | undefined, fingerprint: string): DeployKey | undefined {
  return listing?.find((k) => k.fingerprint === fingerprint);
}

/**
 * Bookkeeping: the step only brings the public sidecar in line with what is
 * stored and registered. A plan of such steps alone changes nothing an
 * operator must confirm, is not journaled, and is not shown as a change.
 */
export function isBookkeeping(step: Step): boolean {
  return step.op === 'record' || step.op === 'record-revoked' || step.op === 'clear-revoked' || step.op === 'record-host-key' || step.op === 'clear-retired';
}

/**
 * What an unattended run needs --yes for: the step deletes a key, a recipient
 * or the host file, or registers again a key that was removed from the forge
 * (perhaps on purpose, by someone who suspected it).
 */
export function needsConsent(step: Step): boolean {
  return (
    step.op === 'forge-remove' ||
    (step.op === 'forge-add' && step.again === true) ||
    step.op === 'purge-host-file' ||
    step.op === 'remove-recipient' ||
    (step.op === 'create-host-key' && step.replaces !== undefined) ||
    (step.op === 'write-host-file' && step.edits.some((e) => e.type === 'delete'))
  );
}

/** Whether the plan changes anything beyond the sidecar's bookkeeping. */
export function hasChanges(plan: Plan): boolean {
  return plan.steps.some((s) => !isBookkeeping(s));
}

function emptyView(): HostKeysView {
  return { current: {}, next: {}, previous: {} };
}

/** Registration of keys already stored: add the unregistered, record ids the sidecar lacks. */
function registrationSteps(input: PlanInput, view: HostKeysView, out: Step[]): void {
  for (const repo of input.repos) {
    for (const slot of SLOTS) {
      const info = view[slot][repo];
      if (!info) continue;
      const onForge = findByFingerprint(input.listings.get(repo), info.fingerprint);
      if (onForge) {
        const rec = input.state?.repos[repo]?.[slot];
        if (rec?.forgeId !== onForge.id || rec.pending) {
          out.push({ op: 'record', repo, slot, forgeId: onForge.id, fingerprint: info.fingerprint });
        }
      } else if (slot !== 'previous') {
        const again = input.state?.repos[repo]?.[slot]?.forgeId !== undefined;
        out.push({ op: 'forge-add', repo, slot, title: deployKeyTitle(input.host, repo), fingerprint: info.fingerprint, ...(again ? { again: true as const } : {}) });
      }
    }
  }
}

function knownFingerprints(view: HostKeysView | undefined): Set<string> {
  const fps = new Set<string>();
  if (view) for (const slot of SLOTS) for (const i of Object.values(view[slot])) fps.add(i.fingerprint);
  return fps;
}

/** Forge keys titled like this host's keys that the host file does not hold. */
function orphanWarnings(input: PlanInput, view: HostKeysView | undefined, out: string[]): void {
  const fps = knownFingerprints(view);
  for (const repo of [...input.repos, ...(input.withdrawn ?? [])]) {
    const title = deployKeyTitle(input.host, repo);
    for (const k of input.listings.get(repo) ?? []) {
      if (k.title === title && !fps.has(k.fingerprint)) {
        out.push(`${repo}: forge key ${k.id} (${k.fingerprint}) is titled ${title} but its private half is not in the host file; "deploy-keys audit" reports it, "deploy-keys revoke" removes it`);
      }
    }
  }
}

/**
 * Keys of repos the config no longer gives the host: each registered one
 * leaves the forge (by fingerprint, from the host file and the public state)
 * before its private half leaves the host file, as every old key does.
 */
function withdrawal(input: PlanInput, view: HostKeysView): { removes: Step[]; deletes: Edit[] } {
  const removes: Step[] = [];
  const deletes: Edit[] = [];
  for (const repo of input.withdrawn ?? []) {
    const fps = new Set<string>();
    const rs = input.state?.repos[repo];
    for (const slot of SLOTS) {
      const info = view[slot][repo];
      if (info) {
        fps.add(info.fingerprint);
        deletes.push({ type: 'delete', slot, repo });
      }
      const rec = rs?.[slot];
      if (rec) fps.add(rec.fingerprint);
    }
    for (const k of input.listings.get(repo) ?? []) {
      if (fps.has(k.fingerprint)) {
        removes.push({ op: 'forge-remove', repo, id: k.id, fingerprint: k.fingerprint, title: k.title, reason: `${input.host} no longer gets ${repo} (repos.${repo}.hosts in the config)` });
      }
    }
  }
  return { removes, deletes };
}

function changesCurrentKeys(steps: readonly Step[]): boolean {
  return steps.some((st) => st.op === 'write-host-file' && st.edits.some((e) => e.type === 'promote' || e.slot === 'current'));
}

/** Appends the activation script's rewrite when the plan changes current keys or the script is out of date. */
function activationStep(steps: Step[], activation: ActivationFacts | undefined): void {
  if (activation && (changesCurrentKeys(steps) || !activation.current)) steps.push({ op: 'write-activation', file: activation.file });
}

/** A command that changes a revoked name's keys provisions it again. */
function clearRevoked(input: PlanInput, steps: Step[]): Step[] {
  return input.state?.revoked && steps.some((s) => !isBookkeeping(s)) ? [{ op: 'clear-revoked' }, ...steps] : steps;
}

/** What `vm-fresh --new-host-key` needs to know about the host's identity. */
export interface NewHostKeyFacts {
  /** `<secrets_dir>/host-keys/<host>.yaml` */
  file: string;
  /** The stored host key, if any. */
  stored: HostKeyInfo | undefined;
  rule: HostKeysRule;
  /** The host's recipient `.sops.yaml` names now (its anchor). */
  inSopsConfig: string | undefined;
  /** Recipients of the host file now (its metadata); undefined without a host file. */
  hostFileRecipients: readonly string[] | undefined;
  /** Every other host's recipient (anchors, sidecars, revoked ones): none may read a host key. */
  otherHosts: ReadonlySet<string>;
  /** --force: replace an existing host key. */
  force: boolean;
}

export interface VmFreshOptions {
  /** Recipients `.sops.yaml` names for the host file; undefined when no creation rule matches it. */
  sopsRule: readonly string[] | undefined;
  /** --host-key: the host's age recipient, and whether the host file is already encrypted for it. */
  hostKey?: { recipient: string; inFile: boolean };
  /** --new-host-key: generate the host's ssh host key here (or keep the one stored). */
  newHostKey?: NewHostKeyFacts;
  /** Files (from their metadata) encrypted for each of the host's former or current recipients that planning may retire. */
  readable?: ReadonlyMap<string, readonly string[]>;
  activation?: ActivationFacts;
}

/** The host's age identity after the plan: the recipient it keeps (undefined: the one this plan creates) and those it leaves behind. */
interface Identity {
  /** false: the command does not touch the host's recipient (no --host-key, no --new-host-key). */
  managed: boolean;
  keep: string | undefined;
  /** The host file is encrypted for `keep` already. */
  inFile: boolean;
  old: string[];
}

function unique(list: readonly (string | undefined)[]): string[] {
  return [...new Set(list.filter((x): x is string => x !== undefined && x !== ''))];
}

/**
 * --new-host-key: the operator-only rule, then keep the stored key or create
 * one. An identity the host has already (stored key, recipient in .sops.yaml)
 * is only replaced with --force, and a key stored for a revoked host is never
 * used again.
 */
function newHostKeySteps(input: PlanInput, nk: NewHostKeyFacts, steps: Step[]): Identity {
  const { host, state } = input;
  const readers = nk.rule.recipients;
  const own = unique([nk.stored?.recipient, nk.inSopsConfig, state?.ageRecipient, ...(state?.retiredRecipients ?? []), ...(state?.revokedRecipients ?? [])]);
  const leaking = readers.filter((r) => nk.otherHosts.has(r) || own.includes(r));
  if (readers.length === 0 || leaking.length > 0) {
    throw new DeployKeysError(
      readers.length === 0 ? `.sops.yaml encrypts ${nk.file} for nobody` : `.sops.yaml would encrypt ${nk.file} for a host's age recipient (${leaking.join(', ')})`,
      { hint: "a host key is for the operators only: list only the operators' age keys in the .sops.yaml rule for the host-keys/ files" },
    );
  }
  if (!nk.rule.present) steps.push({ op: 'host-keys-rule', recipients: readers });
  const current = nk.stored?.recipient ?? nk.inSopsConfig ?? state?.ageRecipient;
  const revoked = nk.stored !== undefined && (state?.revokedRecipients ?? []).includes(nk.stored.recipient);
  // A re-run of an interrupted --force keeps the key that run made instead of replacing it again.
  const op = state?.operation;
  const madeByInterrupted = op?.command === 'vm-fresh' && nk.stored !== undefined && state?.hostKey?.fingerprint === nk.stored.fingerprint && state.hostKey.createdAt >= op.startedAt;
  let keep: string | undefined;
  if (nk.stored && !revoked && (!nk.force || madeByInterrupted)) {
    keep = nk.stored.recipient;
    if (state?.hostKey?.fingerprint !== nk.stored.fingerprint) steps.push({ op: 'record-host-key', publicKey: nk.stored.publicKey, fingerprint: nk.stored.fingerprint });
  } else if (current !== undefined && !nk.force) {
    throw new DeployKeysError(
      revoked ? `${nk.file} holds the ssh host key of the revoked ${host}; it is never used again` : `${host} already has an ssh host key (age recipient ${current})`,
      { hint: `"vm-fresh ${host} --new-host-key --force" replaces it: every file encrypted for the old key is re-keyed, and known_hosts entries for ${host} on other machines break` },
    );
  } else {
    steps.push({ op: 'create-host-key', file: nk.file, recipients: readers, ...(current !== undefined ? { replaces: current } : {}) });
  }
  const old = unique([nk.stored?.recipient, nk.inSopsConfig, state?.ageRecipient, ...(state?.retiredRecipients ?? [])]).filter((r) => r !== keep);
  return { managed: true, keep, inFile: keep !== undefined && (nk.hostFileRecipients ?? []).includes(keep), old };
}

/**
 * The host's recipient in `.sops.yaml`, then every file re-keyed that must
 * be: the host file for the new recipient, and each file still encrypted for
 * a recipient the host no longer has (that one dropped).
 */
function identitySteps(input: PlanInput, opts: VmFreshOptions, id: Identity, steps: Step[]): void {
  const state = input.state;
  if (id.managed) {
    if (id.keep === undefined) steps.push({ op: 'add-recipient' });
    else if (!opts.sopsRule?.includes(id.keep)) steps.push({ op: 'add-recipient', recipient: id.keep });
  }
  const drops = new Map<string, Set<string>>();
  if (input.keys !== undefined && id.managed && !(id.keep !== undefined && id.inFile)) drops.set(input.file, new Set());
  for (const r of id.old) for (const f of opts.readable?.get(r) ?? []) drops.set(f, (drops.get(f) ?? new Set()).add(r));
  const files = [...drops.keys()].sort((a, b) => (a === input.file ? -1 : b === input.file ? 1 : a.localeCompare(b)));
  for (const file of files) {
    const drop = [...(drops.get(file) ?? [])].sort();
    steps.push({ op: 'updatekeys', file, ...(drop.length ? { drop } : {}) });
  }
  // The executor retires the recipient add-recipient replaces; once the files above are re-keyed, none is read by a retired one.
  const retired = state?.retiredRecipients ?? [];
  const replacing = steps.some((s) => s.op === 'add-recipient') && state?.ageRecipient !== undefined && state.ageRecipient !== id.keep;
  if (retired.length > 0 || replacing) steps.push({ op: 'clear-retired', recipients: unique([...id.old, ...retired]) });
}

export function planVmFresh(input: PlanInput, opts: VmFreshOptions): Plan {
  const steps: Step[] = [];
  const notes: string[] = [];
  const warnings: string[] = [];
  const exists = input.keys !== undefined;
  const view = input.keys ?? emptyView();
  if (!exists && !opts.hostKey && !opts.newHostKey && opts.sopsRule === undefined) {
    throw new DeployKeysError(`no .sops.yaml creation rule matches ${input.file}`, {
      hint: 'add a creation rule for the host files (path_regex), or pass --host-key or --new-host-key to add one for this host',
    });
  }

  const retired = unique(input.state?.retiredRecipients ?? []);
  const id: Identity =
    opts.newHostKey ? newHostKeySteps(input, opts.newHostKey, steps)
    : opts.hostKey ? { managed: true, keep: opts.hostKey.recipient, inFile: opts.hostKey.inFile, old: unique([input.state?.ageRecipient, ...retired]).filter((r) => r !== opts.hostKey?.recipient) }
    : { managed: false, keep: undefined, inFile: false, old: retired };
  identitySteps(input, opts, id, steps);

  const { removes, deletes } = withdrawal(input, view);
  steps.push(...removes);
  const edits: Edit[] = [...deletes];
  for (const repo of input.repos) {
    if (view.current[repo]) continue;
    if (view.next[repo]) edits.push({ type: 'promote', repo });
    else edits.push({ type: 'generate', slot: 'current', repo, title: deployKeyTitle(input.host, repo) });
  }
  if (edits.length > 0 || !exists) steps.push({ op: 'write-host-file', file: input.file, create: !exists, edits });

  // The view after the write: promoted keys are current, generated ones have no fingerprint yet.
  const after: HostKeysView = { current: { ...view.current }, next: { ...view.next }, previous: { ...view.previous } };
  for (const e of edits) {
    const promoted = view.next[e.repo];
    if (e.type === 'promote' && promoted !== undefined) {
      after.current[e.repo] = promoted;
      after.next = withoutKey(after.next, e.repo);
    }
  }
  registrationSteps(input, after, steps);
  for (const e of edits) {
    if (e.type === 'generate') steps.push({ op: 'forge-add', repo: e.repo, slot: 'current', title: e.title });
  }
  orphanWarnings(input, input.keys, warnings);
  for (const repo of input.repos) if (view.previous[repo]) notes.push(`${repo}: rotation awaiting "deploy-keys rotate --finish ${input.host}"`);
  activationStep(steps, opts.activation);
  return { command: 'vm-fresh', host: input.host, steps: clearRevoked(input, steps), notes, warnings };
}

/** When a key was created: public state, else the forge's created_at; undefined if unknown. */
function keyCreatedAt(input: PlanInput, repo: string, slot: Slot, info: PublicKeyInfo): Date | undefined {
  const rec = input.state?.repos[repo]?.[slot];
  if (rec?.fingerprint === info.fingerprint) return new Date(rec.createdAt);
  const onForge = findByFingerprint(input.listings.get(repo), info.fingerprint);
  return onForge?.createdAt ? new Date(onForge.createdAt) : undefined;
}

/**
 * rotate and --finish of a host without a host file: nothing to do when it has
 * a sidecar, an error when it has none (a typo must not create state for a new name).
 */
function noHostFile(input: PlanInput, command: 'rotate' | 'finish'): Plan {
  if (!input.state) {
    throw new DeployKeysError(`${input.host}: no host file ${input.file} and no state`, {
      hint: `check the name, or provision it with "deploy-keys vm-fresh ${input.host}"`,
    });
  }
  return { command, host: input.host, steps: [], notes: [`no host file ${input.file}; run "deploy-keys vm-fresh ${input.host}" first`], warnings: [] };
}

export interface RotateOptions {
  /** Rotate keys at least this old (days); 0 = all. */
  olderThanDays: number;
  /** Rotate even if younger (explicit --force). */
  force?: boolean;
  activation?: ActivationFacts;
}

export function planRotate(input: PlanInput, opts: RotateOptions): Plan {
  const view = input.keys;
  if (!view) return noHostFile(input, 'rotate');
  const steps: Step[] = [];
  const notes: string[] = [];
  const warnings: string[] = [];
  const generate: Edit[] = [];
  const promote: Edit[] = [];
  const register: Step[] = [];
  for (const repo of input.repos) {
    const cur = view.current[repo];
    const nxt = view.next[repo];
    const prev = view.previous[repo];
    const title = deployKeyTitle(input.host, repo);
    if (nxt) {
      // An interrupted rotation: the new key is stored; make sure it is registered, then promote.
      if (prev) {
        warnings.push(`${repo}: a rotation is awaiting --finish and another new key is stored; finish the first rotation before rotating again`);
        continue;
      }
      const onForge = findByFingerprint(input.listings.get(repo), nxt.fingerprint);
      if (onForge) register.push({ op: 'record', repo, slot: 'next', forgeId: onForge.id, fingerprint: nxt.fingerprint });
      else register.push({ op: 'forge-add', repo, slot: 'next', title, fingerprint: nxt.fingerprint });
      promote.push({ type: 'promote', repo });
      notes.push(`${repo}: resuming an interrupted rotation`);
      continue;
    }
    if (prev) {
      notes.push(`${repo}: previous rotation awaiting "deploy-keys rotate --finish ${input.host}"`);
      continue;
    }
    if (!cur) {
      notes.push(`${repo}: no key yet; run "deploy-keys vm-fresh ${input.host}"`);
      continue;
    }
    if (!findByFingerprint(input.listings.get(repo), cur.fingerprint)) {
      warnings.push(`${repo}: the current key is not registered on the forge; run "deploy-keys vm-fresh ${input.host}" to register it`);
    }
    const created = keyCreatedAt(input, repo, 'current', cur);
    const ageDays = created ? (input.now.getTime() - created.getTime()) / DAY : Infinity;
    if (!opts.force && ageDays < opts.olderThanDays) {
      notes.push(`${repo}: key is ${Math.floor(ageDays)} days old (< ${opts.olderThanDays}); not rotated`);
      continue;
    }
    generate.push({ type: 'generate', slot: 'next', repo, title });
    register.push({ op: 'forge-add', repo, slot: 'next', title });
    promote.push({ type: 'promote', repo });
  }
  const { removes, deletes } = withdrawal(input, view);
  steps.push(...removes);
  if (generate.length || deletes.length) steps.push({ op: 'write-host-file', file: input.file, create: false, edits: [...deletes, ...generate] });
  steps.push(...register);
  if (promote.length) steps.push({ op: 'write-host-file', file: input.file, create: false, edits: promote });
  // The script follows the keys; an interrupted run may have promoted keys before it stopped.
  if (steps.some((st) => st.op === 'write-host-file') || input.state?.operation) activationStep(steps, opts.activation);
  return { command: 'rotate', host: input.host, steps, notes, warnings };
}

export interface FinishOptions {
  graceDays: number;
  force: boolean;
}

export function planFinish(input: PlanInput, opts: FinishOptions): Plan {
  const view = input.keys;
  if (!view) return noHostFile(input, 'finish');
  const steps: Step[] = [];
  const notes: string[] = [];
  const warnings: string[] = [];
  const drops: Edit[] = [];
  for (const repo of input.repos) {
    const prev = view.previous[repo];
    if (!prev) continue;
    const cur = view.current[repo];
    if (view.next[repo]) {
      warnings.push(`${repo}: a rotation is half done (new key not promoted); run "deploy-keys rotate ${input.host}" first`);
      continue;
    }
    const listing = input.listings.get(repo);
    const curOnForge = cur ? findByFingerprint(listing, cur.fingerprint) : undefined;
    if (!cur || !curOnForge) {
      // Never leave the host without a registered key, not even with --force.
      warnings.push(`${repo}: the new key is not registered on the forge; keeping the old key (run "deploy-keys vm-fresh ${input.host}")`);
      continue;
    }
    const retired = input.state?.repos[repo]?.previous?.retiredAt;
    const since = retired ? new Date(retired) : undefined;
    const graceOver = since !== undefined && input.now.getTime() - since.getTime() >= opts.graceDays * DAY;
    const used = Boolean(curOnForge.lastUsed);
    if (!(opts.force || used || graceOver)) {
      const until = since ? new Date(since.getTime() + opts.graceDays * DAY).toISOString().slice(0, 10) : 'unknown';
      notes.push(`${repo}: new key not used yet; old key kept until it is, or the grace period ends (${until}), or --force`);
      continue;
    }
    const prevOnForge = findByFingerprint(listing, prev.fingerprint);
    if (prevOnForge) {
      steps.push({
        op: 'forge-remove',
        repo,
        id: prevOnForge.id,
        fingerprint: prev.fingerprint,
        title: prevOnForge.title,
        reason: opts.force && !used && !graceOver ? 'rotation finished (--force)' : used ? 'rotation finished (new key used)' : 'rotation finished (grace period over)',
      });
    }
    drops.push({ type: 'delete', slot: 'previous', repo });
  }
  if (drops.length) steps.push({ op: 'write-host-file', file: input.file, create: false, edits: drops });
  return { command: 'finish', host: input.host, steps, notes, warnings };
}

/**
 * Every age recipient the host has or had: its sidecar's, the one `.sops.yaml`
 * names for it (`inSopsConfig`), and those an earlier revoke recorded. No file
 * may stay encrypted for any of them.
 */
export function revokedRecipients(state: HostState | undefined, inSopsConfig: string | undefined): string[] {
  const all = [state?.ageRecipient, inSopsConfig, ...(state?.revokedRecipients ?? [])].filter((r): r is string => r !== undefined && r !== '');
  return [...new Set(all)].sort();
}

export interface RevokeOptions {
  purge: boolean;
  /** Re-encrypt the files the host could read under new data keys (default on; off: updatekeys only). */
  rotateDataKey: boolean;
  /** Whether the operator has an age identity (re-encrypting needs one). */
  identity: boolean;
  /** The host's recipient as `.sops.yaml` names it (its anchor), if any. */
  inSopsConfig: string | undefined;
  /** Files encrypted for any of revokedRecipients() (from their public metadata), with their encrypted values' paths. */
  readable: readonly ReadableFile[];
}

/** The steps that re-encrypt a file, and so need the operator's age identity. */
export function isReencryption(step: Step): step is Extract<Step, { op: 'updatekeys' | 'rotate-data-key' }> {
  return step.op === 'updatekeys' || step.op === 'rotate-data-key';
}

/** What a revoke re-encrypts without an identity to do it with: one line, what to set. */
export function identityMissing(plan: Plan): string | undefined {
  const n = plan.steps.filter(isReencryption).length;
  return n === 0 ? undefined : `revoke ${plan.host} re-encrypts ${n} file${n === 1 ? '' : 's'} the host could read, which needs your age identity, and none was found`;
}

/** The top-level keys of the deploy-key slots, as SOPS paths begin: `["deploy-keys"]`. */
const SLOT_PATHS = SLOTS.map((slot) => `[${JSON.stringify(SLOT_KEY[slot])}]`);

/**
 * The secrets recorded by an earlier (interrupted) run, then those readable
 * now; each file and path once. The host's own deploy keys are left out:
 * revoke deletes them from the forge, which is changing them at their source.
 */
function exposure(recorded: readonly ExposedFile[] | undefined, readable: readonly ReadableFile[], hostFile: string): ExposedFile[] {
  const now = readable.map((r) => ({ file: r.name, values: r.file === hostFile ? r.values.filter((v) => !SLOT_PATHS.some((p) => v.startsWith(p))) : r.values }));
  const by = new Map<string, Set<string>>();
  for (const f of [...(recorded ?? []), ...now]) {
    const set = by.get(f.file) ?? new Set<string>();
    for (const v of f.values) set.add(v);
    by.set(f.file, set);
  }
  return [...by].filter(([, values]) => values.size > 0).map(([file, values]) => ({ file, values: [...values] }));
}

export function planRevoke(input: PlanInput, opts: RevokeOptions): Plan {
  const steps: Step[] = [];
  const notes: string[] = [];
  const warnings: string[] = [];
  const recipients = revokedRecipients(input.state, opts.inSopsConfig);
  const fps = knownFingerprints(input.keys);
  for (const rs of Object.values(input.state?.repos ?? {})) {
    for (const r of [rs.current, rs.next, rs.previous]) if (r) fps.add(r.fingerprint);
  }
  for (const fp of input.state?.revokedFingerprints ?? []) fps.add(fp);
  for (const repo of input.repos) {
    const title = deployKeyTitle(input.host, repo);
    for (const k of input.listings.get(repo) ?? []) {
      const byFp = fps.has(k.fingerprint);
      if (byFp || k.title === title) {
        steps.push({ op: 'forge-remove', repo, id: k.id, fingerprint: k.fingerprint, title: k.title, reason: byFp ? 'host revoked (fingerprint)' : 'host revoked (title)' });
      }
    }
  }
  if (opts.inSopsConfig !== undefined) steps.push({ op: 'remove-recipient', ...(input.state?.ageRecipient ? { recipient: input.state.ageRecipient } : {}) });
  for (const r of opts.readable) {
    if (opts.purge && r.file === input.file) continue;
    steps.push({ op: opts.rotateDataKey ? 'rotate-data-key' : 'updatekeys', file: r.file, ...(recipients.length ? { drop: recipients } : {}) });
  }
  const kept = steps.filter((st) => st.op === 'updatekeys').map((st) => st.file);
  if (kept.length) {
    warnings.push(
      `--no-rotate-data-key: ${kept.join(', ')} keep${kept.length === 1 ? 's' : ''} its data key, so a copy the host kept (or git history) opens every later version; rotate it with "deploy-keys sops rotate --in-place FILE"`,
    );
  }
  if (opts.purge) {
    if (input.keys !== undefined || opts.readable.some((r) => r.file === input.file)) steps.push({ op: 'purge-host-file', file: input.file });
  } else if (input.keys) {
    const edits: Edit[] = [];
    for (const slot of SLOTS) for (const repo of Object.keys(input.keys[slot])) edits.push({ type: 'delete', slot, repo });
    if (edits.length) steps.push({ op: 'write-host-file', file: input.file, create: false, edits });
  }
  if (!input.state?.revoked || steps.length > 0) steps.push({ op: 'mark-revoked', purged: opts.purge });
  // Every fingerprint the host had, so audit can flag them later; recorded before the first change.
  for (const st of steps) if (st.op === 'forge-remove') fps.add(st.fingerprint);
  const fingerprints = [...fps].sort();
  const secrets = exposure(input.state?.revokedSecrets, opts.readable, input.file);
  if (
    !sameList(fingerprints, input.state?.revokedFingerprints) ||
    !sameList(recipients, input.state?.revokedRecipients) ||
    !sameList(secrets.map((f) => JSON.stringify(f)), input.state?.revokedSecrets?.map((f) => JSON.stringify(f)))
  ) {
    steps.unshift({ op: 'record-revoked', fingerprints, recipients, secrets });
  }
  const plan: Plan = { command: 'revoke', host: input.host, steps, notes, warnings, exposed: secrets };
  const missing = opts.identity ? undefined : identityMissing(plan);
  if (missing) warnings.push(missing);
  return plan;
}

function sameList(a: readonly string[], b: readonly string[] | undefined): boolean {
  return a.length === (b?.length ?? 0) && a.every((x, i) => x === b?.[i]);
}

/** How a slot's entry is named in the host file: `deploy-keys-next.nix-config`. */
export function slotEntry(slot: Slot, repo: string): string {
  return `${SLOT_KEY[slot]}.${repo}`;
}

/** One line per step, for --dry-run and prompts: names exactly what is created or deleted. */
export function describeStep(step: Step, host: string): string {
  switch (step.op) {
    case 'host-keys-rule':
      return `add a .sops.yaml creation rule for the hosts' ssh host keys (host-keys/*.yaml), encrypted for the operators only: ${step.recipients.join(', ')}`;
    case 'create-host-key':
      return step.replaces === undefined
        ? `generate ${host}'s ssh host key (ssh-ed25519) into ${step.file}, encrypted for the operators only`
        : `REPLACE ${host}'s ssh host key (age recipient ${step.replaces}) with a new one in ${step.file}: every file encrypted for the old key is re-keyed, known_hosts entries for ${host} on other machines break, and ${host} cannot decrypt its secrets until it runs with the new key`;
    case 'record-host-key':
      return `record ${host}'s ssh host key ${step.fingerprint} in its public state`;
    case 'clear-retired':
      return `forget ${host}'s former age recipient(s) ${step.recipients.join(', ')} (no file is encrypted for them)`;
    case 'add-recipient':
      return `add ${step.recipient === undefined ? "the new host key's age recipient" : `age recipient ${step.recipient}`} for ${host} to .sops.yaml`;
    case 'remove-recipient':
      return `remove ${host}'s age recipient${step.recipient ? ` ${step.recipient}` : ''} from .sops.yaml`;
    case 'updatekeys':
      return `re-encrypt the data key of ${step.file} (updatekeys; the data key stays)${step.drop?.length ? `, no longer for ${step.drop.join(', ')}` : ''}`;
    case 'rotate-data-key':
      return `re-encrypt ${step.file} under a new data key (updatekeys and rotate)${step.drop?.length ? `, no longer for ${step.drop.join(', ')}` : ''}`;
    case 'write-host-file': {
      const parts = step.edits.map((e) =>
        e.type === 'generate' ? `generate ${e.title} into ${slotEntry(e.slot, e.repo)}`
        : e.type === 'promote' ? `promote ${slotEntry('next', e.repo)} to ${slotEntry('current', e.repo)} (old key kept as ${slotEntry('previous', e.repo)})`
        : `delete ${slotEntry(e.slot, e.repo)}`,
      );
      return `${step.create ? 'create' : 'write'} ${step.file}${parts.length ? `: ${parts.join('; ')}` : ''}`;
    }
    case 'forge-add':
      return `register read-only deploy key ${step.title} on ${step.repo}${step.fingerprint ? ` (${step.fingerprint})` : ''}${step.again ? ' again: it was registered and is gone from the forge (a deleted token, by hand, or a policy; "deploy-keys audit" names the likely cause)' : ''}`;
    case 'record':
      return `record forge id ${step.forgeId} of ${step.fingerprint} (${step.repo})`;
    case 'record-revoked':
      return `record ${host}'s ${step.fingerprints.length} fingerprint(s), ${step.recipients.length} age recipient(s) and the ${step.secrets.length} file(s) it could read as revoked in its public state`;
    case 'clear-revoked':
      return `clear ${host}'s revoked mark in its public state (provisioned again)`;
    case 'forge-remove':
      return `delete deploy key ${step.id} "${step.title}" (${step.fingerprint}) from ${step.repo}: ${step.reason}`;
    case 'purge-host-file':
      return `delete ${step.file}`;
    case 'write-activation':
      return `write activation script ${step.file}`;
    case 'mark-revoked':
      return `mark ${host} revoked in its public state`;
  }
}
