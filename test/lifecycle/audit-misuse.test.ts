/**
 * The audit findings that point at misuse, from hand-made public data (state
 * files and forge listings, as the forge reports them): a revoked host's key
 * used after the revocation, an old key still used after its replacement was
 * registered while the new one is not, and keys never used once registered.
 * Each case has its counterpart that must not be reported.
 */
import { describe, expect, test } from 'vitest';
import { auditFindings, type DeployKey, type HostState } from '../../scripts/lib/lifecycle/index.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-06-01T00:00:00Z');
const at = (daysAgo: number) => new Date(NOW - daysAgo * DAY).toISOString();

function key(id: string, fp: string, title: string, extra: Partial<DeployKey> = {}): DeployKey {
  return { status: 'registered', id, repo: 'nix-config', title, publicKey: `ssh-ed25519 ${fp}`, fingerprint: fp, readOnly: true, lastUsed: null, createdAt: at(20), ...extra };
}
const record = (fp: string, created: number, extra: Record<string, string> = {}) => ({ fingerprint: fp, publicKey: `ssh-ed25519 ${fp}`, title: 'web-01-nix-config-deploy', createdAt: at(created), ...extra });

function audit(states: HostState[], keys: DeployKey[]) {
  return auditFindings({ repos: ['nix-config'], reposOf: () => ['nix-config'], states, listings: new Map([['nix-config', keys]]), recipients: new Map(), now: new Date(NOW), maxAgeDays: 90, unusedDays: 30 });
}
const kinds = (states: HostState[], keys: DeployKey[]) => audit(states, keys).map((f) => f.kind);

describe('used-after-revoke', () => {
  const revoked: HostState = { version: 1, host: 'web-01', repos: {}, revoked: { at: at(3), purged: false }, revokedFingerprints: ['SHA256:old'], updatedAt: at(3) };

  test("a revoked host's key used after the revocation", () => {
    const found = audit([revoked], [key('7', 'SHA256:old', 'web-01-nix-config-deploy', { lastUsed: at(1) })]);
    expect(found.map((f) => f.kind)).toEqual(['revoked-host-key', 'used-after-revoke']);
    expect(found[1]).toMatchObject({ host: 'web-01', repo: 'nix-config', keyId: '7', fingerprint: 'SHA256:old' });
    expect(found[1]!.message).toMatch(/was used .* after web-01 was revoked .*: whoever holds its private key still reaches nix-config; delete it on the forge now/);
  });

  test('found by its title too (a key the state never recorded)', () => {
    expect(kinds([{ ...revoked, revokedFingerprints: [] }], [key('8', 'SHA256:other', 'web-01-nix-config-deploy', { lastUsed: at(1) })])).toEqual(['revoked-host-key', 'used-after-revoke']);
  });

  test('last used before the revocation, or never: only the leftover key is reported', () => {
    expect(kinds([revoked], [key('7', 'SHA256:old', 'web-01-nix-config-deploy', { lastUsed: at(4) })])).toEqual(['revoked-host-key']);
    expect(kinds([revoked], [key('7', 'SHA256:old', 'web-01-nix-config-deploy')])).toEqual(['revoked-host-key']);
  });
});

describe('old-key-in-use', () => {
  // Rotated 5 days ago: the new key registered then, the old one kept until --finish.
  const rotated = (registeredDaysAgo = 5): HostState => ({
    version: 1,
    host: 'web-01',
    repos: { 'nix-config': { current: record('SHA256:new', registeredDaysAgo, { forgeId: '2', registeredAt: at(registeredDaysAgo) }), previous: record('SHA256:old', 60, { forgeId: '1', retiredAt: at(registeredDaysAgo) }) } },
    updatedAt: at(registeredDaysAgo),
  });
  const listing = (oldUsed: number | null, newUsed: number | null) => [
    key('1', 'SHA256:old', 'web-01-nix-config-deploy', { createdAt: at(60), lastUsed: oldUsed === null ? null : at(oldUsed) }),
    key('2', 'SHA256:new', 'web-01-nix-config-deploy', { createdAt: at(5), lastUsed: newUsed === null ? null : at(newUsed) }),
  ];

  test('the old key used days after the new one was registered, the new one never', () => {
    const found = audit([rotated()], listing(0.5, null));
    expect(found.map((f) => f.kind)).toEqual(['old-key-in-use']);
    expect(found[0]).toMatchObject({ host: 'web-01', repo: 'nix-config', keyId: '1', fingerprint: 'SHA256:old' });
    expect(found[0]!.message).toMatch(/replaced key 1 \(SHA256:old\) was used .*, 4 days after its replacement 2 was registered .*, which was never used: web-01 has not picked up its new key .*"deploy-keys rotate --finish web-01" would cut it off/);
  });

  test('the new key last used before the old one: still the old one in use', () => {
    expect(kinds([rotated()], listing(0.5, 3))).toEqual(['old-key-in-use']);
  });

  test('not while the host may still be switching, nor once the new key is in use', () => {
    expect(kinds([rotated(0.75)], listing(0.25, null))).toEqual([]);
    expect(kinds([rotated()], listing(4.5, null))).toEqual([]);
    expect(kinds([rotated()], listing(2, 1))).toEqual([]);
    // (The old key, never used at all, is a finding of its own.)
    expect(kinds([rotated()], listing(null, null))).toEqual(['never-used']);
  });
});

describe('never-used', () => {
  const host = (created: number, registered?: number): HostState => ({
    version: 1,
    host: 'web-01',
    repos: { 'nix-config': { current: record('SHA256:k', created, { forgeId: '1', ...(registered === undefined ? {} : { registeredAt: at(registered) }) }) } },
    updatedAt: at(created),
  });

  test('counted from the registration on the forge, not from the key`s creation', () => {
    const found = audit([host(40)], [key('1', 'SHA256:k', 'web-01-nix-config-deploy', { createdAt: at(40) })]);
    expect(found.map((f) => f.kind)).toEqual(['never-used']);
    expect(found[0]!.message).toMatch(/was never used in the 40 days since it was registered \(2026-04-22; audit\.unused_days 30\): is web-01 running/);
    // Made 40 days ago, registered by hand 10 days ago (manual forge): not yet.
    expect(kinds([host(40, 10)], [key('1', 'SHA256:k', 'web-01-nix-config-deploy', { createdAt: at(10) })])).toEqual([]);
  });

  test('a forge that does not report use is no evidence of none', () => {
    const silent = key('1', 'SHA256:k', 'web-01-nix-config-deploy', { createdAt: at(40) });
    delete silent.lastUsed;
    expect(kinds([host(40)], [silent])).toEqual([]);
  });
});
