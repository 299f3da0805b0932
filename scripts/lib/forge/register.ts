/**
 * The one idempotent create every HTTP provider uses. A create whose reply
 * was lost may have happened: it is never repeated blindly. After a transient
 * failure the repo is listed and a key with the same fingerprint is adopted;
 * a conflict ("already in use", Gitea's duplicate title) is resolved the same
 * way: ours if this repo holds the key, else the conflict stands. Whatever is
 * returned went through the read-only check.
 */
import type { RepoConfig } from '../config/index.js';
import { ForgeFailure, KeyInUse, TitleInUse, Transient, type ForgeError, type ForgeErrorContext } from './errors.js';
import { checkAddRequest, ensureReadOnly, type ParsedKey } from './fingerprint.js';
import { backoffDelay } from './retry.js';
import type { AddKeyRequest, Clock, DeployKey, ForgeProvider } from './types.js';

/** The repo's registration of the key with this fingerprint, if any. */
export async function findByFingerprint(forge: Pick<ForgeProvider, 'list'>, repo: RepoConfig, fingerprint: string): Promise<DeployKey | undefined> {
  return (await forge.list(repo)).find((k) => k.fingerprint === fingerprint);
}

/** How often and how patiently a provider retries a create that failed in transit. */
export interface RetryPolicy {
  retries: number;
  retryBaseMs: number;
  clock: Clock;
}

/**
 * Checks the request (checkAddRequest), then sends the create through
 * `create` (one request; failures as mapped ForgeErrors) with the policy above.
 */
export async function addIdempotently(
  forge: Pick<ForgeProvider, 'remove' | 'list'>,
  repo: RepoConfig,
  req: AddKeyRequest,
  baseCtx: ForgeErrorContext,
  policy: RetryPolicy,
  create: (key: ParsedKey, ctx: ForgeErrorContext & { fingerprint: string }) => Promise<DeployKey>,
): Promise<DeployKey> {
  const { parsed, ctx } = checkAddRequest({ ...baseCtx, ...(req.host === undefined ? {} : { host: req.host }) }, req);
  const adoptOrThrow = async (err: ForgeError): Promise<DeployKey> => {
    const existing = await findByFingerprint(forge, repo, ctx.fingerprint);
    if (existing) return ensureReadOnly(forge, repo, existing, ctx);
    throw err;
  };
  for (let attempt = 0; ; attempt++) {
    let got: DeployKey;
    try {
      got = await create(parsed, ctx);
    } catch (e) {
      if (e instanceof KeyInUse || e instanceof TitleInUse) return adoptOrThrow(e);
      if (!(e instanceof Transient)) throw e;
      if (attempt >= policy.retries) return adoptOrThrow(e);
      await policy.clock.sleep(backoffDelay(attempt, policy.retryBaseMs, 30_000, 0.5));
      const existing = await findByFingerprint(forge, repo, ctx.fingerprint);
      if (existing) return ensureReadOnly(forge, repo, existing, ctx);
      continue;
    }
    if (got.fingerprint !== ctx.fingerprint) {
      throw new ForgeFailure(ctx, `the forge answered with a different key (${got.fingerprint}, id ${got.id})`, 'check api_url; remove that key by hand');
    }
    return ensureReadOnly(forge, repo, got, ctx);
  }
}
