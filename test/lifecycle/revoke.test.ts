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
  it('re-keys every file the host could read, shared ones included', async () => {
    const { w, sops, shared } = await world();
    const r = await new Lifecycle(w.deps({ sops })).revoke('web-01', { dryRun: false, purge: false });
    expect(r.plan.notes.join()).toMatch(/shared\.yaml/);
    expect(sops.encryptedFor.get(shared)).toEqual(['age1op', 'age1web02']);
    expect(await sops.filesReadableBy('age1web01')).toEqual([]);
  });

  for (const step of ['remove-recipient', 'updatekeys:1']) {
    it(`interrupted after ${step}, a re-run still re-keys what the host could read`, async () => {
      const { w, sops, shared } = await world();
      await expect(new Lifecycle(w.deps({ sops, fault: crashAfter(step).hook })).revoke('web-01', { dryRun: false, purge: false })).rejects.toBeInstanceOf(Crash);
      await new Lifecycle(w.deps({ sops })).revoke('web-01', { dryRun: false, purge: false });
      expect(await sops.filesReadableBy('age1web01')).toEqual([]);
      expect(sops.encryptedFor.get(shared)).toEqual(['age1op', 'age1web02']);
      expect((await w.states.load('web-01'))!.revoked).toBeDefined();
    });
  }

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
    const kinds = auditFindings({ repos: w.repos, states: [st], listings, recipients: new Map(), now: w.clock.date(), maxAgeDays: 90, unusedDays: 30 }).map((f) => f.kind);
    expect(kinds).toContain('revoked-host-key');
  });
});
