/**
 * Typed forge failures. Each says which forge, repo, host and key (by
 * fingerprint) it concerns and what to do. Messages never carry a token or a
 * private key: only public-key fingerprints, titles and repo names.
 */
import { DeployKeysError } from '../errors.js';
import type { ForgeType } from '../config/index.js';

export interface ForgeErrorContext {
  forge: ForgeType;
  /** `owner/repo` (or the repo's path for the ssh forge). */
  repo?: string;
  host?: string;
  fingerprint?: string;
  /** HTTP status when there was one. */
  status?: number;
}

export type ForgeErrorCode =
  | 'KeyInUse'
  | 'TitleInUse'
  | 'InvalidKey'
  | 'DeployKeysDisabled'
  | 'NotFoundOrNoAdmin'
  | 'Unauthorized'
  | 'AppNotInstalled'
  | 'RateLimited'
  | 'Transient'
  | 'NotReadOnly'
  | 'ForgeFailure';

function describeTarget(ctx: ForgeErrorContext): string {
  const parts: string[] = [];
  if (ctx.fingerprint) parts.push(`key ${ctx.fingerprint}`);
  if (ctx.host) parts.push(`of host ${ctx.host}`);
  if (ctx.repo) parts.push(`${parts.length ? 'on' : 'repo'} ${ctx.repo}`);
  return parts.join(' ');
}

function msg(ctx: ForgeErrorContext, what: string): string {
  const target = describeTarget(ctx);
  return `${ctx.forge}: ${target ? `${target}: ` : ''}${what}`;
}

export abstract class ForgeError extends DeployKeysError {
  abstract readonly code: ForgeErrorCode;
  readonly forge: ForgeType;
  readonly repo: string | undefined;
  readonly host: string | undefined;
  readonly fingerprint: string | undefined;
  readonly status: number | undefined;
  constructor(ctx: ForgeErrorContext, what: string, hint: string, cause?: unknown) {
    super(msg(ctx, what), { hint, ...(cause === undefined ? {} : { cause }) });
    this.name = new.target.name;
    this.forge = ctx.forge;
    this.repo = ctx.repo;
    this.host = ctx.host;
    this.fingerprint = ctx.fingerprint;
    this.status = ctx.status;
  }
}

/** The public key is registered elsewhere (GitHub: keys are unique across all of GitHub). */
export class KeyInUse extends ForgeError {
  readonly code = 'KeyInUse';
  constructor(ctx: ForgeErrorContext, cause?: unknown) {
    super(
      ctx,
      ctx.forge === 'github'
        ? 'key is already in use (GitHub public keys are unique across all of GitHub: another repository or a user account holds it)'
        : 'key is already in use',
      'every (host, repo) pair needs its own key: rotate this host key for this repo (or remove the other registration first); `ssh -T -i <key> git@github.com` shows who holds it',
      cause,
    );
  }
}

/** Gitea: another key in the repo has this title. */
export class TitleInUse extends ForgeError {
  readonly code = 'TitleInUse';
  readonly title: string;
  constructor(ctx: ForgeErrorContext, title: string, cause?: unknown) {
    super(ctx, `another deploy key already has the title ${JSON.stringify(title)}`, 'remove the stale key with that title (`deploy-keys revoke`) and retry', cause);
    this.title = title;
  }
}

export class InvalidKey extends ForgeError {
  readonly code = 'InvalidKey';
  constructor(ctx: ForgeErrorContext, detail: string, cause?: unknown) {
    super(ctx, `the forge rejected the key as invalid (${detail})`, 'the key must be an OpenSSH public key line (ssh-ed25519 AAAA…); regenerate the host key', cause);
  }
}

export class DeployKeysDisabled extends ForgeError {
  readonly code = 'DeployKeysDisabled';
  constructor(ctx: ForgeErrorContext, cause?: unknown) {
    super(
      ctx,
      'deploy keys are disabled for this repository by organization or enterprise policy',
      'ask an org owner to allow deploy keys (GitHub: Organization settings → Member privileges → Deploy keys), then retry',
      cause,
    );
  }
}

export class NotFoundOrNoAdmin extends ForgeError {
  readonly code = 'NotFoundOrNoAdmin';
  constructor(ctx: ForgeErrorContext, cause?: unknown) {
    super(
      ctx,
      ctx.status === 403
        ? 'access forbidden: the token lacks permission to manage deploy keys of this repository'
        : 'repository not found, or the token has no admin rights on it',
      ctx.forge === 'gitlab'
        ? 'check the repo URL in the config; the token needs the Maintainer role on the project and the api scope'
        : 'check the repo URL in the config; the token needs admin on the repo (fine-grained/App: "Administration: read and write"); an org may also need to approve the OAuth app or App installation',
      cause,
    );
  }
}

export class Unauthorized extends ForgeError {
  readonly code = 'Unauthorized';
  /**
   * `credential` names what was rejected, never its value: "the token in $GITHUB_TOKEN",
   * "GitHub App 123's installation 456". A 401 is never retried.
   */
  constructor(ctx: ForgeErrorContext, credential: string, cause?: unknown, hint?: string) {
    super(ctx, `the forge rejected ${credential} (401 bad credentials)`, hint ?? `check ${credential}: it may be expired, revoked or for another server`, cause);
  }
}

/** The GitHub App has no installation that covers the repository. */
export class AppNotInstalled extends ForgeError {
  readonly code = 'AppNotInstalled';
  constructor(ctx: ForgeErrorContext, app: string, cause?: unknown) {
    super(
      ctx,
      `${app} is not installed for this repository's owner, or the installation does not include the repository`,
      'install the App on the owner (Settings → GitHub Apps) with access to the repository, or set forge.auth.installation_id',
      cause,
    );
  }
}

export class RateLimited extends ForgeError {
  readonly code = 'RateLimited';
  readonly retryAt: Date;
  readonly limit: 'primary' | 'secondary';
  constructor(ctx: ForgeErrorContext, retryAt: Date, kind: 'primary' | 'secondary', cause?: unknown) {
    super(
      ctx,
      `${kind} rate limit reached; the forge asks to wait until ${retryAt.toISOString()}`,
      'run again after that time; already registered keys are kept (registration is idempotent)',
      cause,
    );
    this.retryAt = retryAt;
    this.limit = kind;
  }
}

export class Transient extends ForgeError {
  readonly code = 'Transient';
  constructor(ctx: ForgeErrorContext, detail: string, cause?: unknown) {
    super(ctx, `temporary failure (${detail}), retries exhausted`, 'retry later; the run is idempotent and will adopt keys that were registered before the failure', cause);
  }
}

/** The forge registered the key with write access: it was deleted again. */
export class NotReadOnly extends ForgeError {
  readonly code = 'NotReadOnly';
  readonly deleted: boolean;
  constructor(ctx: ForgeErrorContext, deleted: boolean, cause?: unknown) {
    super(
      ctx,
      `the forge registered the key WITH WRITE ACCESS although read_only was requested; ${deleted ? 'it was deleted again' : 'deleting it FAILED'}`,
      deleted
        ? 'report this forge behaviour; do not use this forge for deploy keys until it honours read_only'
        : 'delete the key by hand in the repo settings NOW, then report this forge behaviour',
      cause,
    );
    this.deleted = deleted;
  }
}

/** Anything else the forge answered that we cannot act on. */
export class ForgeFailure extends ForgeError {
  readonly code = 'ForgeFailure';
  constructor(ctx: ForgeErrorContext, detail: string, hint = 'see the forge status page or run again with a valid configuration', cause?: unknown) {
    super(ctx, detail, hint, cause);
  }
}

