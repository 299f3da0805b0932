import { describe, expect, it } from 'vitest';
import { Lifecycle, type ActivationPort } from '../../scripts/lib/lifecycle/engine.js';
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
  it('the key the forge added before the error is adopted by fingerprint, never added twice', async () => {
    const w = fakeWorld(['nix-config']);
    const add = w.forge.add.bind(w.forge);
    let lose = true;
    w.forge.add = async (repo, k) => {
      await add(repo, k);
      if (lose) {
        lose = false;
        throw new Error('socket hang up');
      }
      return add(repo, k); // unreachable for the first call
    };
    const r = await new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: false });
    expect(w.forge.all()).toHaveLength(1);
    expect(r.keys[0]).toMatchObject({ status: 'registered', forgeId: w.forge.all()[0]!.id });
    expect(w.log.entries.filter((e) => e.action === 'register')).toHaveLength(1);
  });
});
