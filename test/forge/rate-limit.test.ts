import { describe, expect, it } from 'vitest';
import { WriteLimiter } from '../../scripts/lib/forge/rate-limit.js';
import { backoffDelay, withRetry } from '../../scripts/lib/forge/retry.js';
import type { Clock } from '../../scripts/lib/forge/types.js';

/** A virtual clock: sleep advances time instantly. */
function fakeClock(): Clock & { t: number } {
  const c = {
    t: 0,
    now: () => c.t,
    sleep: async (ms: number) => {
      c.t += Math.max(0, ms);
      await Promise.resolve();
    },
  };
  return c;
}

function maxInWindow(times: number[], ms: number): number {
  let best = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i]! - times[j]! >= ms) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

describe('WriteLimiter', () => {
  it('80/min and 500/h: never more, and no slower than the windows require', async () => {
    const clock = fakeClock();
    const l = new WriteLimiter({ perMinute: 80, perHour: 500 }, clock);
    const at: number[] = [];
    for (let i = 0; i < 1200; i++) {
      const release = await l.acquire();
      at.push(clock.now());
      release();
    }
    expect(maxInWindow(at, 60_000)).toBe(80);
    expect(maxInWindow(at, 3_600_000)).toBe(500);
    // 1200 writes at 500/h: the 1001st needs two full hours.
    expect(at[1000]!).toBeGreaterThanOrEqual(2 * 3_600_000);
    expect(at[1000]!).toBeLessThan(2 * 3_600_000 + 1000);
  });

  it('an in-flight write keeps its slot until released, then for a full window', async () => {
    const clock = fakeClock();
    const l = new WriteLimiter({ perMinute: 1, perHour: 0, minuteMs: 100 }, clock);
    const r1 = await l.acquire();
    let second = false;
    const p = l.acquire().then((r) => {
      second = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(second).toBe(false);
    clock.t = 500;
    r1();
    await p;
    expect(clock.now()).toBeGreaterThanOrEqual(600);
  });

  it('pauseUntil holds every write; 0 = unlimited', async () => {
    const clock = fakeClock();
    const l = new WriteLimiter({ perMinute: 0, perHour: 0 }, clock);
    expect(l.unlimited).toBe(true);
    l.pauseUntil(1234);
    (await l.acquire())();
    expect(clock.now()).toBe(1234);
  });
});

describe('withRetry', () => {
  it('retries only retryable errors, with growing delays', async () => {
    const clock = fakeClock();
    const delays: number[] = [];
    let n = 0;
    const v = await withRetry(
      async () => {
        if (++n < 4) throw new Error('503');
        return 'ok';
      },
      { retryable: () => true, clock, baseMs: 100, jitter: 0, onRetry: (_e, _a, d) => void delays.push(d) },
    );
    expect(v).toBe('ok');
    expect(delays).toEqual([100, 200, 400]);
    await expect(withRetry(async () => Promise.reject(new Error('401')), { retryable: (e) => !String(e).includes('401'), clock })).rejects.toThrow('401');
    expect(backoffDelay(10, 100, 1000, 0)).toBe(1000);
  });
});
