/**
 * Manual registration: no token (or --manual). Prints, per key, a checklist
 * entry with the public key, title, fingerprint and the repo's deploy-key
 * settings URL. On a TTY it waits for "press Enter when added"; otherwise it
 * returns the key as pending. Either way the registration is unverified
 * (status 'pending') until a later `status` run with a token finds the
 * fingerprint on the forge.
 *
 * Only PUBLIC keys are printed.
 */
import readline from 'node:readline';
import type { ForgeType, RepoConfig } from '../config/index.js';
import { DeployKeysError } from '../errors.js';
import { checkAddRequest } from './fingerprint.js';
import type { AddKeyRequest, DeployKey, ForgeIO, ForgeProvider, KeyContext, PendingKey, PreflightReport } from './types.js';

/** The web page where a human adds a deploy key to `repo` (`forge`: the configured type, when known). */
export function deployKeySettingsUrl(repo: RepoConfig, forge?: ForgeType): string {
  const { host, owner, repo: name, fullPath } = repo.url;
  const site = `https://${host.includes(':') ? `[${host}]` : host}`;
  // github.com and GitHub Enterprise Server share the path; GitLab puts deploy keys under Settings → Repository.
  if (forge === 'github' || (forge !== 'gitlab' && (host === 'github.com' || /(^|\.)github\./.test(host)))) return `${site}/${owner}/${name}/settings/keys/new`;
  if (forge === 'gitlab' || host === 'gitlab.com' || /(^|\.)gitlab\./.test(host)) return `${site}/${fullPath}/-/settings/repository#js-deploy-keys-settings`;
  return `${site}/${owner}/${name}/settings/keys`;
}

export class ManualForge implements ForgeProvider {
  readonly kind = 'manual' as const;
  private step = 0;

  constructor(
    private readonly io: ForgeIO,
    private readonly reason = 'manual registration',
    /** The configured forge, for the settings URL; absent: guessed from the host. */
    private readonly forge?: ForgeType,
  ) {}

  preflight(repos: RepoConfig[]): Promise<PreflightReport> {
    return Promise.resolve({
      kind: 'manual',
      ok: true,
      warnings: [`${this.reason}: keys are registered by hand and stay "pending" until a status run with a token confirms them`],
      repos: repos.map((r) => ({ repo: r.name, ok: true })),
      checked: [],
      notChecked: ['everything: without a token nothing on the forge can be checked'],
    });
  }

  list(_repo: RepoConfig): Promise<DeployKey[]> {
    return Promise.resolve([]);
  }


  async add(repo: RepoConfig, req: AddKeyRequest): Promise<PendingKey> {
    const where = `${repo.url.owner}/${repo.url.repo}`;
    const ctx = { forge: 'manual' as const, repo: where, ...(req.host === undefined ? {} : { host: req.host }) };
    const { parsed } = checkAddRequest(ctx, req);
    const settingsUrl = deployKeySettingsUrl(repo, this.forge);
    this.step++;
    this.print(
      [
        `[ ] ${this.step}. add a deploy key to ${where}${req.host ? ` for host ${req.host}` : ''}`,
        `    open:        ${settingsUrl}`,
        `    title:       ${req.title}`,
        `    key:         ${parsed.key}`,
        `    fingerprint: ${parsed.fingerprint}`,
        `    leave "Allow write access" UNCHECKED`,
      ].join('\n'),
    );
    let userConfirmed = false;
    if (this.io.isTTY) {
      await this.ask('    press Enter when added ');
      userConfirmed = true;
    } else {
      this.print('    (not a terminal: recorded as pending; `deploy-keys status` with a token will confirm it)');
    }
    return { status: 'pending', repo: repo.name, title: req.title, publicKey: parsed.key, fingerprint: parsed.fingerprint, settingsUrl, userConfirmed };
  }

  async remove(repo: RepoConfig, id: string, ctx: KeyContext = {}): Promise<void> {
    const where = `${repo.url.owner}/${repo.url.repo}`;
    this.step++;
    this.print(
      [
        `[ ] ${this.step}. delete a deploy key from ${where}${ctx.host ? ` (host ${ctx.host})` : ''}`,
        `    open:        ${deployKeySettingsUrl(repo, this.forge).replace(/\/new$/, '')}`,
        `    key:         ${ctx.fingerprint ?? `id ${id}`}`,
      ].join('\n'),
    );
    if (this.io.isTTY) await this.ask('    press Enter when deleted ');
  }

  private print(text: string): void {
    this.io.stdout.write(`${text}\n`);
  }

  private ask(prompt: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const rl = readline.createInterface({ input: this.io.stdin, output: this.io.stdout, terminal: false });
      this.io.stdout.write(prompt);
      let done = false;
      rl.once('line', () => {
        done = true;
        rl.close();
        resolve();
      });
      rl.once('close', () => {
        if (!done) reject(new DeployKeysError('input closed before the deploy key was confirmed', { hint: 'run again and press Enter after adding each key' }));
      });
    });
  }
}
