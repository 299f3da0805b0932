/**
 * What a fleet run costs per host in writes and key work, counted (not
 * timed): the sidecar is written once per step that needs durability, the
 * audit log once per step, the host file once per host-file step, and each
 * key's public half is derived once, by a JWK import (never PKCS#8 DER).
 */
import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Lifecycle } from '../../scripts/lib/lifecycle/index.js';
import { fakeWorld } from './fakes.js';

describe('writes per host', () => {
  it('vm-fresh: the sidecar twice (journal, end), the host file once, the audit log once per step', async () => {
    const w = fakeWorld();
    const hosts = ['web-01', 'web-02', 'web-03'];
    const lc = new Lifecycle(w.deps());
    await lc.preflight();
    for (const h of hosts) await lc.vmFresh(h, { dryRun: false });
    for (const h of hosts) expect(w.states.saves.get(h), h).toBe(2);
    expect(w.secrets.saves).toBe(hosts.length);
    // Per host: the two store-key lines in one append, then one per registration.
    expect(w.log.appends).toBe(hosts.length * 3);
    expect(w.log.entries).toHaveLength(hosts.length * 4);
  });

  it('rotate: the sidecar twice; a manual (pending) registration is written at once', async () => {
    const w = fakeWorld();
    await new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: false });
    w.states.saves.clear();
    await new Lifecycle(w.deps()).rotate('web-01', { dryRun: false, olderThanDays: 0 });
    expect(w.states.saves.get('web-01')).toBe(2);
    // Pending: only the sidecar knows it, so it is written after the step.
    const m = fakeWorld(['nix-config']);
    m.forge.pending = true;
    await new Lifecycle(m.deps()).vmFresh('web-01', { dryRun: false });
    expect(m.states.saves.get('web-01')).toBe(3);
  });
});

describe('key derivations per host', () => {
  const imports: unknown[] = [];
  const original = crypto.createPrivateKey;
  beforeEach(() => {
    imports.length = 0;
    crypto.createPrivateKey = ((key: Parameters<typeof original>[0]) => {
      imports.push(typeof key === 'object' && 'format' in key ? key.format : 'pem');
      return original(key);
    });
    syncBuiltinESMExports(); // the modules' `import { createPrivateKey }` see the counter
  });
  afterEach(() => {
    crypto.createPrivateKey = original;
    syncBuiltinESMExports();
  });

  it('rotate derives each key once (2 current, 2 new), all by JWK', async () => {
    const w = fakeWorld();
    await new Lifecycle(w.deps()).vmFresh('web-01', { dryRun: false });
    imports.length = 0;
    await new Lifecycle(w.deps()).rotate('web-01', { dryRun: false, olderThanDays: 0 });
    expect(imports).toEqual(['jwk', 'jwk', 'jwk', 'jwk']);
  });
});
