import { describe, expect, it } from 'vitest';
import { Lifecycle, type ActivationPort } from '../../scripts/lib/lifecycle/index.js';
import { Crash, crashAfter, fakeWorld } from './fakes.js';

class FakeActivation implements ActivationPort {
  readonly files = new Map<string, Record<string, string>>();
  path(host: string) {
    return `/activation/${host}.sh`;
  }
  async isCurrent(host: string, keys: Record<string, string>) {
    return JSON.stringify(this.files.get(host)) === JSON.stringify(keys);
  }
  async write(host: string, keys: Record<string, string>) {
    this.files.set(host, { ...keys });
  }
}

describe('rotate and the activation script', () => {
  it('interrupted after the promotion, the re-run still writes the activation script for the new keys', async () => {
    const w = fakeWorld(['nix-config']);
    const activation = new FakeActivation();
    await new Lifecycle(w.deps({ activation })).vmFresh('web-01', { dryRun: false });
    const old = activation.files.get('web-01')!['nix-config'];
    await expect(
      new Lifecycle(w.deps({ activation, fault: crashAfter('write-host-file', 2).hook })).rotate('web-01', { dryRun: false, olderThanDays: 0 }),
    ).rejects.toBeInstanceOf(Crash);
    await new Lifecycle(w.deps({ activation })).rotate('web-01', { dryRun: false, olderThanDays: 0 });
    const st = (await w.states.load('web-01'))!;
    expect(st.repos['nix-config']!.current!.publicKey).not.toBe(old);
    expect(activation.files.get('web-01')!['nix-config']).toBe(st.repos['nix-config']!.current!.publicKey);
    expect(st.operation).toBeUndefined();
  });
});

describe('rotate on a host that does not exist', () => {
  it('is an error and writes nothing', async () => {
    const w = fakeWorld(['nix-config']);
    await expect(new Lifecycle(w.deps()).rotate('nope', { dryRun: false, olderThanDays: 0 })).rejects.toThrow(/nope/);
    await expect(new Lifecycle(w.deps()).finish('nope', { dryRun: false, graceDays: 7, force: true })).rejects.toThrow(/nope/);
    expect(w.states.m.size).toBe(0);
    expect(w.log.entries).toEqual([]);
  });
});

describe('a lost forge answer', () => {
  // Providers adopt a key whose create reply was lost (test/forge); should one still fail,
  // the error surfaces and the next run records the registration instead of adding it twice.
  it('fails the run; the re-run adopts the key by fingerprint, never adds it twice', async () => {
    const w = fakeWorld(['nix-config']);
    const add = w.forge.add.bind(w.forge);
    let lose = true;
    w.forge.add = async (repo, k) => {
      const res = await add(repo, k);
      if (lose) {
        lose = false;
        throw new Error('socket hang up');
      }
      return res;
    };
    await expect(new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: false })).rejects.toThrow(/socket hang up/);
    const r = await new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: false });
    expect(w.forge.all()).toHaveLength(1);
    expect(w.forge.writes.filter((x) => x.startsWith('add '))).toHaveLength(1);
    expect(r.keys[0]).toMatchObject({ status: 'registered', forgeId: w.forge.all()[0]!.id });
    expect(w.log.entries.filter((e) => e.action === 'record')).toHaveLength(1);
  });
});
