/** ForgePort over a scripts/lib/forge ForgeProvider (repo names → RepoConfig). */
import type { Config, RepoConfig } from '../../config/types.js';
import { repoByName } from '../../config/load.js';
import { DeployKeysError } from '../../errors.js';
import type { DeployKey, ForgeProvider } from '../../forge/types.js';
import type { AddResult, ForgeKey, ForgePort } from '../types.js';

function toForgeKey(k: DeployKey): ForgeKey {
  return {
    id: k.id,
    title: k.title,
    publicKey: k.publicKey,
    fingerprint: k.fingerprint,
    readOnly: k.readOnly,
    ...(k.enabled !== undefined ? { enabled: k.enabled } : {}),
    ...(k.createdAt !== undefined ? { createdAt: k.createdAt } : {}),
    ...(k.lastUsed !== undefined ? { lastUsed: k.lastUsed } : {}),
    ...(k.addedBy ? { addedBy: k.addedBy } : {}),
  };
}

export class ProviderForge implements ForgePort {
  readonly kind: string;
  constructor(
    readonly provider: ForgeProvider,
    readonly config: Config,
    /** Where preflight warnings go (token kind, manual registration, rate-limit API missing). */
    readonly warn: (message: string) => void = () => {},
  ) {
    this.kind = provider.kind;
  }

  #repo(name: string): RepoConfig {
    return repoByName(this.config, name);
  }

  async preflight(repos: readonly string[]): Promise<void> {
    const report = await this.provider.preflight(repos.map((r) => this.#repo(r)));
    if (report.error) throw report.error;
    for (const w of report.warnings) this.warn(w);
    const bad = report.repos.find((r) => !r.ok);
    if (bad) {
      if (bad.error) throw bad.error;
      throw new DeployKeysError(`${this.kind}: ${bad.repo}: preflight failed`, { hint: 'check the token\'s admin rights on the repo' });
    }
    if (!report.ok) throw new DeployKeysError(`${this.kind}: preflight failed`, { hint: report.warnings.join('; ') || 'check the forge settings' });
  }

  async list(repo: string): Promise<ForgeKey[]> {
    return (await this.provider.list(this.#repo(repo))).map(toForgeKey);
  }

  async add(repo: string, key: { title: string; publicKey: string; readOnly: true }): Promise<AddResult> {
    const res = await this.provider.add(this.#repo(repo), key);
    if (res.status === 'pending') return { pending: true };
    return { pending: false, key: toForgeKey(res) };
  }

  async remove(repo: string, id: string): Promise<void> {
    await this.provider.remove(this.#repo(repo), id);
  }
}
