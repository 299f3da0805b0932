/**
 * Write limiter: sliding windows (per minute, per hour) over content-creating
 * requests, shared by every write of one provider instance, i.e. of a whole
 * fleet run. Callers `await acquire()` before each write; grants are FIFO.
 *
 * GitHub's documented secondary limit is 80 content-creating requests a
 * minute and 500 an hour; exceeding it "may result in the banning of your
 * integration", so the limiter waits instead of trying.
 *
 * Window lengths and the clock are injectable: tests and the benchmark shorten
 * the "minute" (and "hour") and must shorten them in the server double too.
 */
import { systemClock, type Clock } from './types.js';

export interface WriteLimits {
  /** 0 = unlimited. */
  perMinute: number;
  /** 0 = unlimited. */
  perHour: number;
  /** Length of the "minute" in ms (default 60 000). */
  minuteMs?: number;
  /** Length of the "hour" in ms (default 3 600 000). */
  hourMs?: number;
}

interface Window {
  limit: number;
  ms: number;
}

interface Grant {
  /** Grant time; replaced by the completion time on release. */
  at: number;
  /** In flight: counts as "now" until released (its server-side time is unknown). */
  open: boolean;
}

/** Call when the write has completed (or failed). Idempotent. */
export type Release = () => void;

/** acquire() refused to wait out a pause longer than the caller tolerates. */
export class LimiterPaused extends Error {
  override name = 'LimiterPaused';
  constructor(readonly until: number) {
    super(`writes are paused until ${new Date(until).toISOString()}`);
  }
}

export interface AcquireOptions {
  /** Longest pause (pauseUntil) to wait out; a longer one rejects with LimiterPaused. Default: any. */
  maxPauseMs?: number;
}

export class WriteLimiter {
  private readonly windows: Window[];
  private readonly clock: Clock;
  private grants: Grant[] = [];
  private tail: Promise<void> = Promise.resolve();
  private pausedUntil = 0;
  private waitedMs = 0;
  private granted = 0;
  private released: (() => void)[] = [];

  constructor(limits: WriteLimits, clock: Clock = systemClock) {
    this.clock = clock;
    this.windows = [
      { limit: limits.perMinute, ms: limits.minuteMs ?? 60_000 },
      { limit: limits.perHour, ms: limits.hourMs ?? 3_600_000 },
    ].filter((w) => w.limit > 0);
  }

  get unlimited(): boolean {
    return this.windows.length === 0;
  }

  /**
   * Waits until one more write fits in every window, then records it. The
   * write occupies its slot from the grant until `release()` and then for a
   * full window after its completion: the server's clock sees the request
   * somewhere in between, so no latency jitter can push two writes closer
   * together than the window on the server's side.
   */
  acquire(opts: AcquireOptions = {}): Promise<Release> {
    const next = this.tail.then(() => this.grant(opts.maxPauseMs ?? Infinity));
    // A failed grant must not poison the queue.
    this.tail = next.then(
      () => {},
      () => {},
    );
    return next;
  }

  /** acquire(), run `fn`, release. */
  async run<T>(fn: () => Promise<T>, opts: AcquireOptions = {}): Promise<T> {
    const release = await this.acquire(opts);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** Holds every write until `until` (epoch ms), e.g. after a secondary-limit reply. */
  pauseUntil(until: number): void {
    if (until > this.pausedUntil) this.pausedUntil = until;
  }

  stats(): { granted: number; waitedMs: number; inFlight: number } {
    return { granted: this.granted, waitedMs: this.waitedMs, inFlight: this.grants.filter((g) => g.open).length };
  }

  private checkPause(maxPauseMs: number): void {
    if (this.pausedUntil - this.clock.now() > maxPauseMs) throw new LimiterPaused(this.pausedUntil);
  }

  private async grant(maxPauseMs: number): Promise<Release> {
    if (this.windows.length === 0) {
      await this.waitPause(maxPauseMs);
      this.granted++;
      return () => {};
    }
    for (;;) {
      this.checkPause(maxPauseMs);
      const now = this.clock.now();
      const longest = Math.max(...this.windows.map((w) => w.ms));
      this.grants = this.grants.filter((g) => g.open || g.at > now - longest);
      const times = this.grants.map((g) => (g.open ? Infinity : g.at)).sort((a, b) => a - b);
      let waitUntil = this.pausedUntil;
      let waitRelease = false;
      for (const w of this.windows) {
        const inWindow = times.filter((t) => t > now - w.ms);
        if (inWindow.length >= w.limit) {
          // The grant that must leave the window before one more fits.
          const mustLeave = inWindow[inWindow.length - w.limit] ?? Infinity; // in range: length >= limit
          if (mustLeave === Infinity) waitRelease = true;
          else waitUntil = Math.max(waitUntil, mustLeave + w.ms + 1);
        }
      }
      if (!waitRelease && waitUntil <= now) {
        const g: Grant = { at: now, open: true };
        this.grants.push(g);
        this.granted++;
        return () => {
          if (!g.open) return;
          g.open = false;
          g.at = this.clock.now();
          const waiters = this.released;
          this.released = [];
          for (const r of waiters) r();
        };
      }
      const t0 = now;
      if (waitRelease) await new Promise<void>((r) => this.released.push(r));
      else await this.clock.sleep(waitUntil - now);
      this.waitedMs += Math.max(0, this.clock.now() - t0);
    }
  }

  private async waitPause(maxPauseMs: number): Promise<void> {
    for (;;) {
      this.checkPause(maxPauseMs);
      const now = this.clock.now();
      if (this.pausedUntil <= now) return;
      this.waitedMs += this.pausedUntil - now;
      await this.clock.sleep(this.pausedUntil - now);
    }
  }
}
