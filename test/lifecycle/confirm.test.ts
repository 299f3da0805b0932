import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { confirmer } from '../../scripts/cli/confirm.js';
import type { Plan } from '../../scripts/lib/lifecycle/index.js';

function io() {
  const stdin = new PassThrough();
  stdin.end();
  return { stdin, stdout: new PassThrough(), stderr: new PassThrough() };
}

const plan = (steps: Plan['steps']): Plan => ({ command: 'revoke', host: 'web-01', steps, notes: [], warnings: [] });

describe('confirmation without a terminal', () => {
  it('refuses every deleting step without --yes, whatever the command, and never waits', async () => {
    const ask = confirmer(io(), false)!;
    const deleting: Plan['steps'][] = [
      [{ op: 'forge-remove', repo: 'r', id: '1', fingerprint: 'SHA256:x', title: 't', reason: 'x' }],
      [{ op: 'purge-host-file', file: '/s/web-01.yaml' }],
      [{ op: 'remove-recipient', recipient: 'age1x' }],
      [{ op: 'write-host-file', file: '/s/web-01.yaml', create: false, edits: [{ type: 'delete', slot: 'current', repo: 'r' }] }],
    ];
    for (const steps of deleting) await expect(ask(plan(steps)), steps[0]!.op).rejects.toThrow(/stdin is not a terminal/);
    await expect(ask(plan([{ op: 'mark-revoked', purged: false }]))).resolves.toBe(true);
    // vm-fresh withdrawing a repo the config no longer gives the host deletes too.
    await expect(ask({ ...plan(deleting[0]!), command: 'vm-fresh' })).rejects.toThrow(/^vm-fresh web-01: would delete deploy key 1/);
    await expect(ask({ ...plan([{ op: 'forge-add', repo: 'r', slot: 'current', title: 't' }]), command: 'vm-fresh' })).resolves.toBe(true);
    // Registering again a key someone removed from the forge is theirs to confirm.
    await expect(ask({ ...plan([{ op: 'forge-add', repo: 'r', slot: 'current', title: 't', again: true }]), command: 'vm-fresh' })).rejects.toThrow(/^vm-fresh web-01: would register read-only deploy key t on r again: it was registered and is gone from the forge/);
    expect(confirmer(io(), true)).toBeUndefined();
  });
});
