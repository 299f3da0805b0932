/** ForgePort over a scripts/lib/forge ForgeProvider (repo names → RepoConfig). */
import type { Config, RepoConfig } from '../../config/index.js';
import { repoByName } from '../../config/index.js';
import { DeployKeysError } from '../../errors.js';
import type { ForgeProvider } from '../../forge/index.js';
import type { AddResult, DeployKey, ForgePort } from '../core/types.js';

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

  async preflight(repos: readonly string[]): Promise<ReadonlyMap<string, DeployKey[]>> {
    const report = await this.provider.preflight(repos.map((r) => this.#repo(r)));
    if (report.error) throw report.error;
    for (const w of report.warnings) this.warn(w);
    const bad = report.repos.find((r) => !r.ok);
    if (bad) {
      if (bad.error) throw bad.error;
      throw new DeployKeysError(`${this.kind}: ${bad.repo}: preflight failed`, { hint: 'check the token\'s admin rights on the repo' });
    }
    if (!report.ok) throw new DeployKeysError(`${this.kind}: preflight failed`, { hint: report.warnings.join('; ') || 'check the forge settings' });
    const listings = new Map<string, DeployKey[]>();
    for (const r of report.repos) if (r.keys) listings.set(r.repo, r.keys);
    return listings;
  }

  async list(repo: string): Promise<DeployKey[]> {
    return this.provider.list(this.#repo(repo));
  }

  async add(repo: string, key: { title: string; publicKey: string; readOnly: true }): Promise<AddResult> {
    const res = await this.provider.add(this.#repo(repo), key);
    if (res.status === 'pending') return { pending: true };
    return { pending: false, key: res };
  }

  async remove(repo: string, id: string): Promise<void> {
    await this.provider.remove(this.#repo(repo), id);
  }
}
