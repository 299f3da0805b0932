import { mkdtempSync, promises as fs, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireLock } from '../../scripts/lib/lifecycle/effects/locks.js';
import { describeUnknown } from '../../scripts/lib/errors.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const DEAD_PID = 2 ** 22 + 7;

describe('host lock', () => {
  it('a stale lock is taken over by exactly one of several racing commands', async () => {
    for (let round = 0; round < 40; round++) {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'dk-lock-'));
      dirs.push(dir);
      await fs.writeFile(path.join(dir, 'web-01.lock'), JSON.stringify({ pid: DEAD_PID, machine: os.hostname(), command: 'rotate', startedAt: 'x' }));
      const results = await Promise.allSettled(Array.from({ length: 6 }, () => acquireLock(dir, 'web-01', 'vm-fresh')));
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won, `round ${round}`).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(describeUnknown(r.reason)).toMatch(/web-01 is locked by|cannot take the lock/);
    }
  });

  it('release never deletes a lock that another command holds now', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dk-lock-'));
    dirs.push(dir);
    const a = await acquireLock(dir, 'web-01', 'vm-fresh');
    const other = JSON.stringify({ pid: process.pid, machine: os.hostname(), command: 'rotate', startedAt: 'other' });
    await fs.writeFile(a.file, other); // e.g. taken over by someone who judged it stale
    await a.release();
    expect(await fs.readFile(a.file, 'utf8')).toBe(other);
  });
});
