/**
 * Tree <-> cipher: decrypt or encrypt every selected value of the documents in
 * place, computing the MAC on the way (spec §10). The stores never see keys and
 * this module never sees files.
 */
import { Scalar } from 'yaml';
import { SopsDecryptError, SopsFormatError } from './errors.js';
import type { SopsType } from './go-format.js';
import { MacHasher } from './mac.js';
import type { RuleMatcher } from './rules.js';
import { aadOf, GO_TIME_VALUES, leafBytes, scalarValueFrom, walkTree } from './tree.js';
import type { CommentSlot, SopsDoc } from './tree.js';
import { decryptValue, encryptValue, formatEncValue, isEncValue, IvStash, parseEncValue } from './value-cipher.js';

/** The sops type and value a scalar had when decrypted, so an unchanged value re-encrypts identically. */
const ORIGIN = Symbol('sops-origin');
type WithOrigin = Scalar & { [ORIGIN]?: { type: SopsType; value: unknown } };

export interface CryptContext {
  key: Uint8Array;
  rules: RuleMatcher;
  stash: IvStash;
  /** File name, for error messages. */
  file: string;
}

/**
 * Decrypt all values in place; returns the MAC computed over the plaintext. A
 * `stash` (for a file that will be re-encrypted) collects each value's IV.
 */
export function decryptDocs(docs: readonly SopsDoc[], ctx: Omit<CryptContext, 'stash'> & { stash?: IvStash }): string {
  const mac = new MacHasher(ctx.rules.macOnlyEncrypted);
  walkTree(
    docs,
    {
      leaf(node, path, comments) {
        const encrypted = ctx.rules.shouldEncrypt(path, comments);
        const aad = aadOf(path);
        const at = path.join(':') || '(top level)';
        if (!encrypted || typeof node.value !== 'string' || node.value === '') {
          if (encrypted && node.value !== null && typeof node.value !== 'string') {
            throw new SopsFormatError(`${ctx.file}: the value at ${at} should be encrypted but is not`, { hint: 'the file was edited by hand; re-create the value with the tool' });
          }
          const plain = leafBytes(node, `${ctx.file}: ${at}`);
          if (plain && (encrypted || !ctx.rules.macOnlyEncrypted)) mac.add(plain.bytes);
          return;
        }
        const enc = parseEncValue(node.value);
        if (!enc) {
          throw new SopsFormatError(`${ctx.file}: the value at ${at} is not a valid ENC[AES256_GCM,…] string`, { hint: 'the file was edited by hand or truncated; restore it from version control' });
        }
        let bytes: Buffer;
        try {
          bytes = decryptValue(ctx.key, enc, aad);
        } catch (e) {
          throw new SopsDecryptError(`${ctx.file}: cannot decrypt the value at ${at} (authentication failed: tampered, or moved from another key)`, {
            hint: 'restore the file from version control; never edit ENC[…] strings by hand',
            cause: e,
          });
        }
        const value = scalarValueFrom(enc.type, bytes);
        if (value === undefined || enc.type === 'comment') {
          throw new SopsFormatError(`${ctx.file}: the value at ${at} has an invalid or unknown type "${enc.type}"`, { hint: 'the file may come from a newer sops' });
        }
        ctx.stash?.remember(aad, bytes, enc.iv);
        node.value = value;
        node.type = typeof value === 'string' && value.includes('\n') ? Scalar.BLOCK_LITERAL : Scalar.PLAIN;
        (node as WithOrigin)[ORIGIN] = { type: enc.type as SopsType, value };
        if (enc.type === 'time') GO_TIME_VALUES.add(node);
        mac.add(bytes);
      },
      comment(slot) {
        // Any ENC comment is decrypted (sops would keep one its rule says is plain; readers see more, never less)
        return mapCommentLines(slot, (line) => (isEncValue(line) ? decryptComment(line, slot, ctx) : line));
      },
    },
    ctx.file,
  );
  return mac.hex();
}

/**
 * A comment's AAD depends on which container the writer's YAML parser attached it
 * to; try the attributed container, then each enclosing one. A comment that opens
 * with none is kept as written, as sops does.
 */
function decryptComment(line: string, slot: CommentSlot, ctx: Omit<CryptContext, 'stash'> & { stash?: IvStash }): string {
  const enc = parseEncValue(line);
  if (enc?.type !== 'comment') return line;
  const candidates = [...(slot.innerPath ? [slot.innerPath] : []), ...Array.from({ length: slot.path.length + 1 }, (_, i) => slot.path.slice(0, slot.path.length - i))];
  for (const path of candidates) {
    const aad = aadOf(path);
    try {
      const bytes = decryptValue(ctx.key, enc, aad);
      ctx.stash?.remember(aad, bytes, enc.iv);
      return bytes.toString('utf8');
    } catch {
      // try the enclosing container
    }
  }
  return line;
}

/** Encrypt all selected values in place; returns the MAC computed over the plaintext. */
export function encryptDocs(docs: readonly SopsDoc[], ctx: CryptContext): string {
  const mac = new MacHasher(ctx.rules.macOnlyEncrypted);
  walkTree(
    docs,
    {
      leaf(node, path, comments) {
        const aad = aadOf(path);
        const plain = leafBytes(node, `${ctx.file}: ${path.join(':') || '(top level)'}`);
        if (!plain) return;
        const encrypted = ctx.rules.shouldEncrypt(path, comments);
        if (encrypted || !ctx.rules.macOnlyEncrypted) mac.add(plain.bytes);
        if (!encrypted || plain.bytes.length === 0) return;
        const origin = (node as WithOrigin)[ORIGIN];
        const type = origin && origin.value === node.value ? origin.type : plain.type;
        node.value = formatEncValue(encryptValue(ctx.key, plain.bytes, aad, type, ctx.stash.ivFor(aad, plain.bytes)));
        node.type = Scalar.PLAIN;
        Reflect.deleteProperty(node, ORIGIN);
      },
      comment(slot, comments) {
        const stack = [...comments];
        return mapCommentLines(slot, (line) => {
          stack.push(line);
          if (isEncValue(line) || !ctx.rules.shouldEncrypt(slot.path, stack, true)) return line;
          const aad = aadOf(slot.path);
          const bytes = Buffer.from(line, 'utf8');
          const enc = formatEncValue(encryptValue(ctx.key, bytes, aad, 'comment', ctx.stash.ivFor(aad, bytes)));
          // sops refuses this too: a reader would take the ciphertext for a marker.
          if (ctx.rules.unencryptedCommentMarker(enc)) {
            throw new SopsFormatError(`${ctx.file}: an encrypted comment matches unencrypted_comment_regex`, { hint: 'anchor the regex (e.g. ^ ?keep) so it cannot match ENC[…] text' });
          }
          return enc;
        });
      },
    },
    ctx.file,
  );
  return mac.hex();
}

/**
 * Apply `f` to each non-empty line of a comment slot (sops encrypts comments line
 * by line); returns the lines as they were, which is what sops' comment stack holds.
 */
function mapCommentLines(slot: CommentSlot, f: (line: string) => string): string[] {
  const text = slot.holder[slot.prop];
  if (!text) return [];
  const before = text.split('\n');
  slot.holder[slot.prop] = before.map((line) => (line === '' ? line : f(line))).join('\n');
  return before.filter((l) => l !== '');
}
