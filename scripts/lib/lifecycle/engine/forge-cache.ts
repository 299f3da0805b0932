/** The forge through a per-run cache: each repo is listed once per run, and the listing follows the run's adds and removes. */
import type { DeployKey, ForgePort } from '../core/types.js';

export class ForgeCache {
  readonly #lists = new Map<string, Promise<DeployKey[]>>();
  constructor(readonly forge: ForgePort) {}

  /** The forge's preflight; the listings it made fill the cache (a repo already cached keeps its listing). */
  async preflight(repos: readonly string[]): Promise<void> {
    const listings = await this.forge.preflight(repos);
    for (const [repo, keys] of listings) if (!this.#lists.has(repo)) this.#lists.set(repo, Promise.resolve([...keys]));
  }

  list(repo: string): Promise<DeployKey[]> {
    let p = this.#lists.get(repo);
    if (!p) {
      p = this.forge.list(repo);
      this.#lists.set(repo, p);
      p.catch(() => this.#lists.delete(repo));
    }
    return p;
  }

  async listAll(repos: readonly string[]): Promise<Map<string, DeployKey[]>> {
    const lists = await Promise.all(repos.map(async (r): Promise<[string, DeployKey[]]> => [r, await this.list(r)]));
    return new Map(lists);
  }

  /** The forge's add is idempotent by fingerprint (a key already there is adopted), so nothing to recover here. */
  async add(repo: string, key: { title: string; publicKey: string; readOnly: true }): Promise<DeployKey | undefined> {
    const res = await this.forge.add(repo, key);
    if (res.pending) return undefined;
    const list = await this.list(repo);
    if (!list.some((k) => k.id === res.key.id)) list.push(res.key);
    return res.key;
  }

  async remove(repo: string, id: string): Promise<void> {
    await this.forge.remove(repo, id);
    const list = await this.list(repo);
    const i = list.findIndex((k) => k.id === id);
    if (i >= 0) list.splice(i, 1);
  }
}
