/**
 * The operator's pin for a host whose key we made: `name ssh-ed25519 AAAA…`
 * in a known_hosts file (pure text → text). An older ssh-ed25519 key for the
 * same name is removed, whether the line names it in clear or hashed
 * (`|1|salt|hash`, HMAC-SHA1 of the name): ssh would otherwise go on
 * accepting the old key, which may be the very one being replaced. Every
 * other line is kept byte for byte.
 */
import { createHmac } from 'node:crypto';

const TYPE = 'ssh-ed25519';

function hashedNameMatches(field: string, name: string): boolean {
  const [, salt, hash] = /^\|1\|([A-Za-z0-9+/=]+)\|([A-Za-z0-9+/=]+)$/.exec(field) ?? [];
  if (salt === undefined || hash === undefined) return false;
  return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
}

/** `text` with `name` pinned to `publicKey` (`ssh-ed25519 BASE64 [comment]`); `changed` false when it already was, alone. */
export function pinHostKey(text: string, name: string, publicKey: string): { text: string; changed: boolean } {
  const [type, blob] = publicKey.split(' ');
  if (type !== TYPE || blob === undefined) throw new Error('pinHostKey: not an ssh-ed25519 public key');
  const want = name.toLowerCase();
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  let pinned = false;
  let changed = false;
  const out: string[] = [];
  for (const line of lines) {
    const fields = line.trim().split(/\s+/);
    const [names = '', lineType, lineBlob] = fields;
    // Comments, blank lines, @cert-authority/@revoked markers and other key types stay.
    if (line.trim() === '' || names.startsWith('#') || names.startsWith('@') || lineType !== TYPE) {
      out.push(line);
      continue;
    }
    const list = names.split(',');
    const ours = list.filter((n) => n.toLowerCase() === want || hashedNameMatches(n, want));
    if (ours.length === 0) {
      out.push(line);
      continue;
    }
    if (lineBlob === blob && list.length === 1 && !pinned) {
      pinned = true;
      out.push(line);
      continue;
    }
    changed = true;
    // Our name leaves the line (another key, or shared with other names); the other names keep it.
    const rest = list.filter((n) => !ours.includes(n));
    if (rest.length > 0) out.push([rest.join(','), ...fields.slice(1)].join(' '));
  }
  if (!pinned) {
    out.push(`${want} ${TYPE} ${blob}`);
    changed = true;
  }
  return { text: `${out.join('\n')}\n`, changed };
}
