/** Public halves of decrypted keys, derived once per key text for the whole run. */
import { slotEntry } from '../core/plan.js';
import { SLOTS, type HostKeys, type HostKeysView, type KeyFactory, type PublicKeyInfo } from '../core/types.js';

export class KeyViewer {
  readonly #cache = new Map<string, PublicKeyInfo>();
  /** `managed`: config repos. An unreadable entry for another repo is the user's business and skipped. */
  constructor(readonly factory: KeyFactory, readonly managed: readonly string[]) {}

  /** A key this run generated: its public half is known already. */
  remember(privateKey: string, info: PublicKeyInfo): void {
    this.#cache.set(privateKey, info);
  }

  /** The public half of one stored key (`where` names it in errors). */
  info(privateKey: string, where: string): PublicKeyInfo {
    let info = this.#cache.get(privateKey);
    if (!info) {
      info = this.factory.inspect(privateKey, where);
      this.#cache.set(privateKey, info);
    }
    return info;
  }

  view(keys: HostKeys, file: string): HostKeysView {
    const out: HostKeysView = { current: {}, next: {}, previous: {} };
    for (const slot of SLOTS) {
      for (const [repo, text] of Object.entries(keys[slot])) {
        try {
          out[slot][repo] = this.info(text, `${file}: ${slotEntry(slot, repo)}`);
        } catch (e) {
          if (this.managed.includes(repo)) throw e;
        }
      }
    }
    return out;
  }
}
