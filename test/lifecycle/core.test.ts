import { describe, expect, it } from 'vitest';
import { auditFindings, hostStatus, Lifecycle, planVmFresh, printStatus, type Plan } from '../../scripts/lib/lifecycle/index.js';
import { realKeys } from '../../scripts/lib/lifecycle/effects/keys.js';
import { Crash, crashAfter, fakeWorld } from './fakes.js';

type World = ReturnType<typeof fakeWorld>;

function fps(w: World, host: string): Set<string> {
  const f = w.secrets.files.get(host);
  const out = new Set<string>();
  if (!f) return out;
  for (const slot of ['current', 'next', 'previous'] as const) for (const t of Object.values(f.keys[slot])) out.add(realKeys.inspect(t, 'x').fingerprint);
  return out;
}

/** Every forge key of the host has its private half stored; no key silently dropped. */
function checkInvariants(w: World, host: string) {
  const stored = fps(w, host);
  for (const k of w.forge.all()) {
    if (k.title.startsWith(`${host}-`)) expect(stored.has(k.fingerprint), `${k.repo} ${k.id} private half stored`).toBe(true);
  }
}

/** The key the host has installed (current at its last activation) is still on the forge. */
function hostHasValidKey(w: World, repo: string, installed: string) {
  expect(w.forge.all().some((k) => k.repo === repo && k.fingerprint === installed)).toBe(true);
}

describe('vm-fresh', () => {
  it('creates keys, stores before registering, records ids; re-run writes nothing', async () => {
    const w = fakeWorld();
    const order: string[] = [];
    const lc = new Lifecycle(w.deps({ fault: (n) => void order.push(n) }));
    const r = await lc.vmFresh('web-01', { dryRun: false });
    expect(order[0]).toBe('write-host-file:1');
    expect(r.keys.map((k) => [k.repo, k.status])).toEqual([
      ['nix-config', 'registered'],
      ['dotfiles', 'registered'],
    ]);
    expect(w.forge.all()).toHaveLength(2);
    expect(w.forge.all().every((k) => k.readOnly && k.title === `web-01-${k.repo}-deploy`)).toBe(true);
    checkInvariants(w, 'web-01');
    const st = (await w.states.load('web-01'))!;
    expect(st.operation).toBeUndefined();
    expect(st.repos['nix-config']!.current!.forgeId).toBeDefined();
    expect(w.log.entries.map((e) => e.action)).toEqual(['store-key', 'store-key', 'register', 'register']);

    const writes = w.forge.writes.length;
    const saves = w.secrets.saves;
    const before = JSON.stringify(await w.states.load('web-01'));
    const r2 = await new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: false });
    expect(r2.plan.steps).toEqual([]);
    expect(w.forge.writes.length).toBe(writes);
    expect(w.secrets.saves).toBe(saves);
    expect(JSON.stringify(await w.states.load('web-01'))).toBe(before);
  });

  it('asks before a change, and aborting changes nothing', async () => {
    const w = fakeWorld();
    const asked: string[] = [];
    const confirm = async (plan: Plan) => {
      asked.push(plan.command);
      return false;
    };
    await expect(new Lifecycle(w.deps({ confirm })).vmFresh('web-01', { dryRun: false })).rejects.toThrow(/aborted, nothing changed/);
    expect(asked).toEqual(['vm-fresh']);
    expect(w.secrets.files.size + w.states.m.size + w.forge.writes.length).toBe(0);
  });

  it('bookkeeping alone (forge ids the sidecar lost) is neither confirmed nor journaled', async () => {
    const w = fakeWorld();
    await new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: false });
    delete w.states.m.get('web-01')!.repos['nix-config']!.current!.forgeId;
    const journals: unknown[] = [];
    const save = w.states.save.bind(w.states);
    w.states.save = async (s) => {
      journals.push(s.operation);
      await save(s);
    };
    const confirm = async () => {
      throw new Error('asked to confirm bookkeeping');
    };
    const r = await new Lifecycle(w.deps({ confirm })).vmFresh('web-01', { dryRun: false });
    expect(r.plan.steps.map((s) => s.op)).toEqual(['record']);
    expect(r.done).toEqual([]);
    expect(journals.length).toBeGreaterThan(0);
    expect(journals.every((j) => j === undefined)).toBe(true);
    expect((await w.states.load('web-01'))!.repos['nix-config']!.current!.forgeId).toBeDefined();
  });

  it('provisioning a revoked name again clears its mark and keeps its old fingerprints flagged', async () => {
    const w = fakeWorld(['nix-config']);
    await new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: false });
    const old = (await w.states.load('web-01'))!.repos['nix-config']!.current!.fingerprint;
    await new Lifecycle(w.deps()).revoke('web-01', { dryRun: false, purge: true });
    expect((await w.states.load('web-01'))!.revoked).toBeDefined();
    const r = await new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: false });
    expect(r.plan.steps[0]).toEqual({ op: 'clear-revoked' });
    const st = (await w.states.load('web-01'))!;
    expect(st.revoked).toBeUndefined();
    expect(st.revokedFingerprints).toEqual([old]);
    expect(st.repos['nix-config']!.current!.fingerprint).not.toBe(old);
  });

  it('dry-run touches nothing and names every change', async () => {
    const w = fakeWorld();
    const r = await new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: true });
    expect(r.plan.steps.map((s) => s.op)).toEqual(['write-host-file', 'forge-add', 'forge-add']);
    expect(w.forge.writes).toEqual([]);
    expect(w.secrets.files.size).toBe(0);
    expect(w.states.m.size).toBe(0);
    expect(w.log.entries).toEqual([]);
  });

  it('keeps existing keys and registers only what is missing', async () => {
    const w = fakeWorld();
    const k = realKeys.generate('web-01-nix-config-deploy');
    w.secrets.files.set('web-01', { keys: { current: { 'nix-config': k.privateKey }, next: {}, previous: {} }, other: { wifi: 'x' }, recipients: ['age1op'] });
    await new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: false });
    const f = w.secrets.files.get('web-01')!;
    expect(f.keys.current['nix-config']).toBe(k.privateKey);
    expect(f.other).toEqual({ wifi: 'x' });
    expect(w.forge.all().map((x) => x.fingerprint)).toContain(k.fingerprint);
    checkInvariants(w, 'web-01');
  });

  it('a manual (pending) registration is recorded as pending and retried later', async () => {
    const w = fakeWorld(['nix-config']);
    w.forge.pending = true;
    const r = await new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: false });
    expect(r.keys[0]!.status).toBe('pending');
    w.forge.pending = false;
    const r2 = await new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: false });
    expect(r2.keys[0]!.status).toBe('registered');
  });

  it('warns about forge keys titled for the host that the file does not hold', () => {
    const w = fakeWorld(['nix-config']);
    const plan = planVmFresh({
      host: 'web-01',
      repos: ['nix-config'],
      file: 'f',
      keys: undefined,
      state: undefined,
      listings: new Map([['nix-config', [{ status: 'registered' as const, id: '9', repo: 'nix-config', title: 'web-01-nix-config-deploy', publicKey: 'x', fingerprint: 'SHA256:zz', readOnly: true }]]]),
      now: w.clock.date(),
    }, { sopsRule: ['age1op'] });
    expect(plan.warnings[0]).toMatch(/forge key 9/);
  });
});

describe('crash safety', () => {
  async function stepNames(run: (lc: Lifecycle) => Promise<unknown>, w: World): Promise<string[]> {
    // A clean run in a copy of the world records the fault points in order.
    const rec = crashAfter('never');
    await run(new Lifecycle(w.deps({ fault: rec.hook })));
    return rec.names;
  }

  it('vm-fresh converges after a crash at every step', async () => {
    const names = await stepNames((lc) => lc.vmFresh('web-01', { dryRun: false }), fakeWorld());
    expect(names).toContain('forge-add:nix-config:current:call');
    for (const name of names) {
      const w = fakeWorld();
      const c = crashAfter(name);
      await expect(new Lifecycle(w.deps({ fault: c.hook })).vmFresh('web-01', { dryRun: false })).rejects.toBeInstanceOf(Crash);
      checkInvariants(w, 'web-01');
      if (name !== names[names.length - 1]) expect((await w.states.load('web-01'))?.operation, name).toBeDefined();
      const r = await new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: false });
      checkInvariants(w, 'web-01');
      expect(w.forge.all(), name).toHaveLength(2);
      expect(r.keys.every((k) => k.status === 'registered'), name).toBe(true);
      expect((await w.states.load('web-01'))!.operation).toBeUndefined();
      // Log: every registered key has a register or record line.
      for (const k of w.forge.all()) {
        expect(w.log.entries.some((e) => (e.action === 'register' || e.action === 'record') && e.fingerprint === k.fingerprint), name).toBe(true);
      }
    }
  });

  it('rotate and finish converge after a crash at every step, never leaving a host without a valid key', async () => {
    const setup = async () => {
      const w = fakeWorld();
      await new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: false });
      const old = new Map(Object.entries((await w.states.load('web-01'))!.repos).map(([r, s]) => [r, s.current!.fingerprint]));
      return { w, old };
    };
    const { w: w0 } = await setup();
    const names = await stepNames((lc) => lc.rotate('web-01', { dryRun: false, olderThanDays: 0 }), w0);
    expect(names.length).toBeGreaterThan(4);
    for (const name of names) {
      const { w, old } = await setup();
      const c = crashAfter(name);
      await expect(new Lifecycle(w.deps({ fault: c.hook })).rotate('web-01', { dryRun: false, olderThanDays: 0 })).rejects.toBeInstanceOf(Crash);
      checkInvariants(w, 'web-01');
      for (const [repo, fp] of old) hostHasValidKey(w, repo, fp);
      await new Lifecycle(w.deps()).rotate('web-01', { dryRun: false, olderThanDays: 0 });
      checkInvariants(w, 'web-01');
      for (const [repo, fp] of old) hostHasValidKey(w, repo, fp);
      const st = (await w.states.load('web-01'))!;
      for (const [repo, fp] of old) {
        expect(st.repos[repo]!.previous!.fingerprint, name).toBe(fp);
        expect(st.repos[repo]!.current!.fingerprint).not.toBe(fp);
        expect(st.repos[repo]!.current!.forgeId).toBeDefined();
      }
      expect(w.forge.all()).toHaveLength(4);
    }
    // finish --force, crashed at every step
    const { w: w1 } = await setup();
    await new Lifecycle(w1.deps()).rotate('web-01', { dryRun: false, olderThanDays: 0 });
    const fnames = await stepNames((lc) => lc.finish('web-01', { dryRun: false, graceDays: 7, force: true }), w1);
    for (const name of fnames) {
      const { w } = await setup();
      await new Lifecycle(w.deps()).rotate('web-01', { dryRun: false, olderThanDays: 0 });
      const c = crashAfter(name);
      await expect(new Lifecycle(w.deps({ fault: c.hook })).finish('web-01', { dryRun: false, graceDays: 7, force: true })).rejects.toBeInstanceOf(Crash);
      checkInvariants(w, 'web-01');
      await new Lifecycle(w.deps()).finish('web-01', { dryRun: false, graceDays: 7, force: true });
      checkInvariants(w, 'web-01');
      expect(w.forge.all()).toHaveLength(2);
      const f = w.secrets.files.get('web-01')!;
      expect(Object.keys(f.keys.previous)).toEqual([]);
      for (const k of w.forge.all()) expect(realKeys.inspect(f.keys.current[k.repo]!, 'x').fingerprint).toBe(k.fingerprint);
    }
  });
});

describe('rotate', () => {
  it('keeps the old key until the new one is used or the grace period ends', async () => {
    const w = fakeWorld(['nix-config']);
    await new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: false });
    const young = await new Lifecycle(w.deps()).rotate('web-01', { dryRun: false, olderThanDays: 90 });
    expect(young.plan.steps).toEqual([]);
    expect(young.plan.notes[0]).toMatch(/0 days old/);
    w.clock.advanceDays(100);
    await new Lifecycle(w.deps()).rotate('web-01', { dryRun: false, olderThanDays: 90 });
    expect(w.forge.all()).toHaveLength(2);
    const again = await new Lifecycle(w.deps()).rotate('web-01', { dryRun: false, olderThanDays: 0 });
    expect(again.plan.notes[0]).toMatch(/awaiting/);

    const waiting = await new Lifecycle(w.deps()).finish('web-01', { dryRun: false, graceDays: 7, force: false });
    expect(waiting.plan.steps).toEqual([]);
    expect(waiting.plan.notes[0]).toMatch(/not used yet/);
    const st = (await w.states.load('web-01'))!;
    w.forge.use(st.repos['nix-config']!.current!.fingerprint);
    const done = await new Lifecycle(w.deps()).finish('web-01', { dryRun: false, graceDays: 7, force: false });
    expect(done.plan.steps.map((s) => s.op)).toEqual(['forge-remove', 'write-host-file']);
    expect(w.forge.all()).toHaveLength(1);
    expect(w.forge.all()[0]!.fingerprint).toBe(st.repos['nix-config']!.current!.fingerprint);
  });

  it('a new key that is only pending (manual forge) is never promoted', async () => {
    const w = fakeWorld(['nix-config']);
    await new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: false });
    const old = w.secrets.files.get('web-01')!.keys.current['nix-config'];
    w.forge.pending = true;
    await new Lifecycle(w.deps()).rotate('web-01', { dryRun: false, olderThanDays: 0 });
    const f = w.secrets.files.get('web-01')!;
    expect(f.keys.current['nix-config']).toBe(old);
    expect(f.keys.next['nix-config']).toBeDefined();
    w.forge.pending = false;
    await new Lifecycle(w.deps()).rotate('web-01', { dryRun: false, olderThanDays: 0 });
    expect(w.secrets.files.get('web-01')!.keys.previous['nix-config']).toBe(old);
    expect(w.forge.all()).toHaveLength(2);
  });

  it('finishes after the grace period', async () => {
    const w = fakeWorld(['nix-config']);
    await new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: false });
    await new Lifecycle(w.deps()).rotate('web-01', { dryRun: false, olderThanDays: 0 });
    w.clock.advanceDays(8);
    const r = await new Lifecycle(w.deps()).finish('web-01', { dryRun: false, graceDays: 7, force: false });
    expect(r.plan.steps.map((s) => s.op)).toEqual(['forge-remove', 'write-host-file']);
  });

  it('never finishes when the new key is not on the forge, even with --force', async () => {
    const w = fakeWorld(['nix-config']);
    await new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: false });
    await new Lifecycle(w.deps()).rotate('web-01', { dryRun: false, olderThanDays: 0 });
    const cur = (await w.states.load('web-01'))!.repos['nix-config']!.current!;
    await w.forge.remove('nix-config', cur.forgeId!);
    const r = await new Lifecycle(w.deps()).finish('web-01', { dryRun: false, graceDays: 0, force: true });
    expect(r.plan.steps).toEqual([]);
    expect(r.plan.warnings[0]).toMatch(/not registered/);
  });
});

describe('revoke', () => {
  it('removes keys by fingerprint and by title, other hosts unaffected', async () => {
    const w = fakeWorld();
    await new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: false });
    await new Lifecycle(w.deps()).vmFresh('web-02', { dryRun: false });
    // A stray key titled like web-01's, private half unknown.
    const stray = realKeys.generate('web-01-nix-config-deploy');
    await w.forge.add('nix-config', { title: 'web-01-nix-config-deploy', publicKey: stray.publicKey, readOnly: true });
    const r = await new Lifecycle(w.deps()).revoke('web-01', { dryRun: false, purge: false });
    expect(r.plan.steps.filter((s) => s.op === 'forge-remove')).toHaveLength(3);
    expect(w.forge.all().every((k) => k.title.startsWith('web-02-'))).toBe(true);
    expect(w.forge.all()).toHaveLength(2);
    expect(w.secrets.files.get('web-01')!.keys).toEqual({ current: {}, next: {}, previous: {} });
    const st = (await w.states.load('web-01'))!;
    expect(st.revoked).toBeDefined();
    expect(st.revokedFingerprints).toContain(stray.fingerprint);
    // Re-run: nothing left to do.
    const again = await new Lifecycle(w.deps()).revoke('web-01', { dryRun: false, purge: true });
    expect(again.plan.steps.filter((s) => s.op === 'forge-remove')).toEqual([]);
    expect(w.secrets.files.has('web-01')).toBe(false);
  });

  it('a failed forge delete is an error and nothing after it is done', async () => {
    const w = fakeWorld(['nix-config']);
    await new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: false });
    w.forge.failRemove = true;
    await expect(new Lifecycle(w.deps()).revoke('web-01', { dryRun: false, purge: false })).rejects.toThrow(/cannot delete deploy key/);
    expect(Object.keys(w.secrets.files.get('web-01')!.keys.current)).toEqual(['nix-config']);
    expect((await w.states.load('web-01'))!.revoked).toBeUndefined();
  });

  it('without --purge an undecryptable host file is an error before any change', async () => {
    const w = fakeWorld(['nix-config']);
    await new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: false });
    w.secrets.undecryptable.add('web-01');
    const writes = w.forge.writes.length;
    await expect(new Lifecycle(w.deps()).revoke('web-01', { dryRun: false, purge: false })).rejects.toThrow(/cannot decrypt/);
    expect(w.forge.writes.length).toBe(writes);
    // --purge works from the public state alone.
    await new Lifecycle(w.deps()).revoke('web-01', { dryRun: false, purge: true });
    expect(w.forge.all()).toEqual([]);
  });
});

describe('status and audit', () => {
  it('a key gone from the forge is reported with its likeliest cause and the fix', async () => {
    const w = fakeWorld(['nix-config']);
    w.forge.addedByUser = 'alice'; // registered with alice's personal token
    await new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: false });
    w.forge.addedByUser = undefined; // registered by a GitHub App (or a forge that does not say)
    await new Lifecycle(w.deps()).vmFresh('web-02', { dryRun: false });
    const states = [(await w.states.load('web-01'))!, (await w.states.load('web-02'))!];
    expect(states.map((s) => s.repos['nix-config']?.current?.registeredByUser)).toEqual(['alice', undefined]);
    const gone = auditFindings({ repos: w.repos, reposOf: () => w.repos, states, recipients: new Map(), maxAgeDays: 90, unusedDays: 30, listings: new Map([['nix-config', []]]), now: w.clock.date() });
    const message = (host: string) => gone.find((f) => f.kind === 'missing-on-forge' && f.host === host)?.message;
    expect(message('web-01')).toMatch(/gone from the forge, most likely because the personal access or OAuth token of alice that added it was deleted or revoked .*"deploy-keys vm-fresh web-01" registers the stored key again$/);
    expect(message('web-02')).toMatch(/gone from the forge, deleted by hand or by an organization policy; "deploy-keys vm-fresh web-02" registers the stored key again$/);

    // vm-fresh plans to register the stored key again (no new key), marked for confirmation.
    w.forge.keys.set('nix-config', []);
    const again = await new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: true });
    expect(again.plan.steps.filter((s) => s.op !== 'record')).toEqual([
      { op: 'forge-add', repo: 'nix-config', slot: 'current', title: 'web-01-nix-config-deploy', fingerprint: states[0]!.repos['nix-config']!.current!.fingerprint, again: true },
    ]);
  });

  it('status names a key gone from the forge and the policy that disabled deploy keys', async () => {
    const w = fakeWorld(['nix-config', 'nix-secrets']);
    await new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: false });
    for (const k of w.forge.keys.get('nix-secrets') ?? []) k.enabled = false; // GitHub: an org policy disabled deploy keys
    w.forge.keys.set('nix-config', []); // deleted on the forge
    const listings = new Map([['nix-config', await w.forge.list('nix-config')], ['nix-secrets', await w.forge.list('nix-secrets')]]);
    const rows = hostStatus((await w.states.load('web-01'))!, w.repos, w.repos, listings, w.clock.date(), 90);
    let text = '';
    printStatus({ write: (s: string) => void (text += s) }, [rows], []);
    expect(text).toMatch(/^web-01: nix-config key SHA256:\S+ is gone from the forge \("deploy-keys audit" names the likely cause\); "deploy-keys vm-fresh web-01" registers the stored key again$/m);
    expect(text).toMatch(/^nix-secrets: the forge reports its deploy keys disabled \(DeployKeysDisabled: an organization or enterprise policy forbids deploy keys\)/m);
    expect(text).not.toMatch(/^nix-config: the forge reports/m);
  });

  it('reports registration, rotation and findings from public data', async () => {
    const w = fakeWorld(['nix-config']);
    await new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: false });
    await new Lifecycle(w.deps()).vmFresh('web-02', { dryRun: false });
    await new Lifecycle(w.deps()).rotate('web-02', { dryRun: false, olderThanDays: 0 });
    const listings = new Map([['nix-config', await w.forge.list('nix-config')]]);
    const s1 = hostStatus((await w.states.load('web-01'))!, w.repos, w.repos, listings, w.clock.date(), 90);
    expect(s1.rows[0]).toMatchObject({ registration: 'registered', readOnly: true, enabled: true, rotation: 'none', ageDays: 0 });
    const s2 = hostStatus((await w.states.load('web-02'))!, w.repos, w.repos, listings, w.clock.date(), 90);
    expect(s2.rows.map((r) => [r.slot, r.rotation])).toEqual([
      ['current', 'awaiting-finish'],
      ['previous', 'awaiting-finish'],
    ]);

    const states = [(await w.states.load('web-01'))!, (await w.states.load('web-02'))!];
    const base = { repos: w.repos, reposOf: () => w.repos, states, recipients: new Map(), maxAgeDays: 90, unusedDays: 30 };
    expect(auditFindings({ ...base, listings, now: w.clock.date() })).toEqual([]);

    const intruder = realKeys.generate('evil');
    await w.forge.add('nix-config', { title: 'evil', publicKey: intruder.publicKey, readOnly: true });
    w.forge.keys.get('nix-config')![0]!.readOnly = false;
    const l2 = new Map([['nix-config', await w.forge.list('nix-config')]]);
    const later = new Date(w.clock.now() + 100 * 86_400_000);
    const kinds = auditFindings({ ...base, listings: l2, now: later }).map((f) => f.kind);
    expect(kinds).toContain('unknown-key');
    expect(kinds).toContain('write-enabled');
    expect(kinds).toContain('too-old');
    expect(kinds).toContain('never-used');

    await new Lifecycle(w.deps()).revoke('web-01', { dryRun: false, purge: false });
    // The revoked key re-appears (e.g. re-added by someone with admin rights).
    const revokedFp = (await w.states.load('web-01'))!.revokedFingerprints![0]!;
    const l3 = new Map([['nix-config', [...(await w.forge.list('nix-config')), { status: 'registered' as const, id: '999', repo: 'nix-config', title: 'x', publicKey: 'x', fingerprint: revokedFp, readOnly: true }]]]);
    const states3 = [(await w.states.load('web-01'))!, (await w.states.load('web-02'))!];
    const f3 = auditFindings({ ...base, states: states3, listings: l3, now: w.clock.date() });
    expect(f3.find((f) => f.kind === 'revoked-host-key')?.host).toBe('web-01');

    const mism = auditFindings({
      ...base,
      listings,
      now: w.clock.date(),
      recipients: new Map([['web-01', { file: 'web-01.yaml', actual: ['age1a', 'age1old'], expected: ['age1a', 'age1b'] }]]),
      states: [states[0]!],
    });
    expect(mism.map((f) => f.kind)).toContain('recipients-mismatch');
  });
});
