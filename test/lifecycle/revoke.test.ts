/**
 * revoke against an in-memory .sops.yaml: the host's recipient must leave every
 * file it could read, also when revoke is interrupted and re-run, and revoke must
 * not report success while a creation rule still names the host.
 */
import { describe, expect, it } from 'vitest';
import { auditFindings, Lifecycle } from '../../scripts/lib/lifecycle/index.js';
import { Crash, crashAfter, FakeSops, fakeWorld } from './fakes.js';

async function world(sharedRule: 'anchor' | 'literal' = 'anchor') {
  const w = fakeWorld(['nix-config']);
  const sops = new FakeSops(undefined);
  sops.anchors.set('web-01', 'age1web01');
  const host = '/secrets/web-01.yaml';
  const shared = '/secrets/shared.yaml';
  sops.rules.set(host, [{ value: 'age1op' }, { value: 'age1web01', via: 'web-01' }]);
  sops.rules.set(shared, [{ value: 'age1op' }, sharedRule === 'anchor' ? { value: 'age1web01', via: 'web-01' } : { value: 'age1web01' }, { value: 'age1web02', via: 'web-02' }]);
  sops.rules.set('/secrets/web-02.yaml', [{ value: 'age1op' }, { value: 'age1web02', via: 'web-02' }]);
  sops.encryptedFor.set(host, ['age1op', 'age1web01']);
  sops.encryptedFor.set(shared, ['age1op', 'age1web01', 'age1web02']);
  sops.encryptedFor.set('/secrets/web-02.yaml', ['age1op', 'age1web02']);
  await new Lifecycle(w.deps({ sops })).vmFresh('web-01', { dryRun: false });
  return { w, sops, shared };
}

describe('revoke and .sops.yaml', () => {
  it('re-keys every file the host could read under new data keys, shared ones included, and lists their values', async () => {
    const { w, sops, shared } = await world();
    const r = await new Lifecycle(w.deps({ sops })).revoke('web-01', { dryRun: false, purge: false });
    expect(sops.encryptedFor.get(shared)).toEqual(['age1op', 'age1web02']);
    expect(await sops.filesReadableBy('age1web01')).toEqual([]);
    expect([...sops.rotated].sort()).toEqual(['/secrets/shared.yaml', '/secrets/web-01.yaml']);
    expect(r.plan.exposed).toEqual([
      { file: 'secrets/web-01.yaml', values: ['["db"]["password"]'] },
      { file: 'secrets/shared.yaml', values: ['["db"]["password"]'] },
    ]);
    expect(w.log.entries.filter((e) => e.action === 'rotate-data-key').map((e) => e.detail).sort()).toEqual(['/secrets/shared.yaml', '/secrets/web-01.yaml']);
  });

  it('--no-rotate-data-key re-wraps only, and warns that old copies keep opening the files', async () => {
    const { w, sops, shared } = await world();
    const r = await new Lifecycle(w.deps({ sops })).revoke('web-01', { dryRun: false, purge: false, rotateDataKey: false });
    expect(sops.encryptedFor.get(shared)).toEqual(['age1op', 'age1web02']);
    expect(sops.rotated).toEqual([]);
    expect(r.plan.steps.filter((s) => s.op === 'updatekeys')).toHaveLength(2);
    expect(r.plan.warnings.join('\n')).toMatch(/--no-rotate-data-key: .*shared\.yaml.*deploy-keys sops rotate --in-place/);
  });

  it('the dry run shows the rotations and the values, and changes nothing', async () => {
    const { w, sops, shared } = await world();
    const writes = w.forge.writes.length;
    const r = await new Lifecycle(w.deps({ sops })).revoke('web-01', { dryRun: true, purge: false });
    expect(r.plan.steps.flatMap((s) => (s.op === 'rotate-data-key' ? [s.file] : [])).sort()).toEqual(['/secrets/shared.yaml', '/secrets/web-01.yaml']);
    expect(r.plan.exposed).toHaveLength(2);
    expect(sops.rotated).toEqual([]);
    expect(sops.encryptedFor.get(shared)).toContain('age1web01');
    expect(w.forge.writes.length).toBe(writes);
  });

  for (const step of ['record-revoked', 'remove-recipient', 'rotate-data-key:1', 'rotate-data-key:2', 'write-host-file:1']) {
    it(`interrupted after ${step}, a re-run still re-keys what the host could read and still reports it`, async () => {
      const { w, sops, shared } = await world();
      const crash = crashAfter(step);
      await expect(new Lifecycle(w.deps({ sops, fault: crash.hook })).revoke('web-01', { dryRun: false, purge: false })).rejects.toBeInstanceOf(Crash);
      const r = await new Lifecycle(w.deps({ sops })).revoke('web-01', { dryRun: false, purge: false });
      expect(r.resumed?.command).toBe('revoke');
      expect(await sops.filesReadableBy('age1web01')).toEqual([]);
      expect(sops.encryptedFor.get(shared)).toEqual(['age1op', 'age1web02']);
      expect([...new Set(sops.rotated)].sort()).toEqual(['/secrets/shared.yaml', '/secrets/web-01.yaml']);
      expect(r.plan.exposed?.map((f) => f.file).sort()).toEqual(['secrets/shared.yaml', 'secrets/web-01.yaml']);
      expect((await w.states.load('web-01'))!.revoked).toBeDefined();
      // Converged: nothing left to do.
      const again = await new Lifecycle(w.deps({ sops })).revoke('web-01', { dryRun: false, purge: false });
      expect(again.plan.steps).toEqual([]);
    });
  }

  it('without an age identity nothing changes, and the error says what is missing', async () => {
    const { w, sops } = await world();
    sops.identity = false;
    const writes = w.forge.writes.length;
    await expect(new Lifecycle(w.deps({ sops })).revoke('web-01', { dryRun: false, purge: false })).rejects.toThrow(/needs your age identity.*nothing changed/);
    await expect(new Lifecycle(w.deps({ sops })).revoke('web-01', { dryRun: false, purge: true })).rejects.toThrow(/re-encrypts 1 file the host could read, which needs your age identity/);
    expect(w.forge.writes.length).toBe(writes);
    expect((await w.states.load('web-01'))!.revoked).toBeUndefined();
    const dry = await new Lifecycle(w.deps({ sops })).revoke('web-01', { dryRun: true, purge: true });
    expect(dry.plan.warnings.join('\n')).toMatch(/needs your age identity/);
  });

  it('a file the operator cannot re-key fails the revoke; the re-run finishes it', async () => {
    const { w, sops, shared } = await world();
    sops.unreadable.add(shared);
    await expect(new Lifecycle(w.deps({ sops })).revoke('web-01', { dryRun: false, purge: false })).rejects.toThrow(/cannot decrypt/);
    expect((await w.states.load('web-01'))!.revoked).toBeUndefined();
    sops.unreadable.delete(shared);
    await new Lifecycle(w.deps({ sops })).revoke('web-01', { dryRun: false, purge: false });
    expect(await sops.filesReadableBy('age1web01')).toEqual([]);
  });

  it('a rule that still names the host literally is an error naming the file, not a silent success', async () => {
    const { w, sops } = await world('literal');
    await expect(new Lifecycle(w.deps({ sops })).revoke('web-01', { dryRun: false, purge: false })).rejects.toThrow(/shared\.yaml.*age1web01|age1web01.*shared\.yaml/);
    expect((await w.states.load('web-01'))!.revoked).toBeUndefined();
  });

  it('audit: a revoked host whose state still lists keys does not own them any more', async () => {
    const { w, sops } = await world();
    // revoke --purge of a host whose file is already gone: the state keeps its old records.
    w.secrets.files.delete('web-01');
    sops.encryptedFor.delete('/secrets/web-01.yaml');
    await new Lifecycle(w.deps({ sops })).revoke('web-01', { dryRun: false, purge: true });
    const st = (await w.states.load('web-01'))!;
    expect(st.revoked).toBeDefined();
    const fp = st.revokedFingerprints![0]!;
    const listings = new Map([['nix-config', [{ status: 'registered' as const, id: '999', repo: 'nix-config', title: 'innocent', publicKey: 'x', fingerprint: fp, readOnly: true, lastUsed: new Date().toISOString() }]]]);
    const kinds = auditFindings({ repos: w.repos, reposOf: () => w.repos, states: [st], listings, recipients: new Map(), now: w.clock.date(), maxAgeDays: 90, unusedDays: 30 }).map((f) => f.kind);
    expect(kinds).toContain('revoked-host-key');
  });
});
