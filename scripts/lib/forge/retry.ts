/**
 * Retry with exponential backoff and full jitter, for transient failures only.
 * The caller decides what is transient; 401 and other permanent answers must
 * never be classified as retryable.
 */
import { systemClock, type Clock } from './types.js';

export interface RetryOptions {
  /** Retries after the first attempt (default 4). */
  retries?: number;
  /** First backoff in ms (default 500); doubles each attempt. */
  baseMs?: number;
  /** Cap per wait in ms (default 30 000). */
  maxMs?: number;
  /** 0..1 share of the delay that is randomized (default 0.5). */
  jitter?: number;
  clock?: Clock;
  /** Whether to retry after this error. */
  retryable: (e: unknown) => boolean;
  /** A server-requested delay in ms (e.g. retry-after), used instead of backoff when larger. */
  delayHint?: (e: unknown) => number | undefined;
  onRetry?: (e: unknown, attempt: number, delayMs: number) => void | Promise<void>;
}

export function backoffDelay(attempt: number, baseMs: number, maxMs: number, jitter: number, rand = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** attempt);
  return Math.round(exp * (1 - jitter) + exp * jitter * rand());
}

export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const retries = opts.retries ?? 4;
  const baseMs = opts.baseMs ?? 500;
  const maxMs = opts.maxMs ?? 30_000;
  const jitter = opts.jitter ?? 0.5;
  const clock = opts.clock ?? systemClock;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (attempt >= retries || !opts.retryable(e)) throw e;
      const hint = opts.delayHint?.(e);
      const delay = Math.max(backoffDelay(attempt, baseMs, maxMs, jitter), hint ?? 0);
      await opts.onRetry?.(e, attempt + 1, delay);
      await clock.sleep(delay);
    }
  }
}
