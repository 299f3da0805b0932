// An independent floor for bench/sops-cli.mjs: the least work any SOPS
// implementation must do for a file of string values and one X25519 age
// recipient, written without the project's code: yaml.parse()/stringify(),
// node:crypto X25519 + HKDF + ChaCha20-Poly1305 (the age stanza, header MAC and
// payload), AES-256-GCM per value, the SHA-512 MAC. No comments, no other
// types, no checks beyond the cryptographic ones (not even for duplicate keys,
// which the yaml library checks in quadratic time): a floor, not a tool.
//
//   decrypt FILE   (identity: SOPS_AGE_KEY, one AGE-SECRET-KEY-1… line)
//   encrypt FILE   (recipient: SOPS_AGE_RECIPIENTS, one age1… key)
import { createCipheriv, createDecipheriv, createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { bech32 } from '@scure/base';
import { parse, stringify } from 'yaml';

const [mode, file] = process.argv.slice(2);
const X25519_LABEL = 'age-encryption.org/v1/X25519';
const ENC = /^ENC\[AES256_GCM,data:([^,]*),iv:([^,]*),tag:([^,]*),type:([a-z]+)\]$/;
const b64raw = (b) => Buffer.from(b).toString('base64').replace(/=+$/, '');
const hkdf = (ikm, salt, info) => Buffer.from(hkdfSync('sha256', ikm, salt, info, 32));
const privateKey = (raw) => createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), raw]), format: 'der', type: 'pkcs8' });
const publicKey = (raw) => createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), raw]), format: 'der', type: 'spki' });
const rawPublic = (key) => createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(-32);
const chacha = (key, nonce, data, open) => {
  if (open) {
    const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    d.setAuthTag(data.subarray(-16));
    return Buffer.concat([d.update(data.subarray(0, -16)), d.final()]);
  }
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  return Buffer.concat([c.update(data), c.final(), c.getAuthTag()]);
};
const LAST_CHUNK = Buffer.from('000000000000000000000001', 'hex');

function ageDecrypt(armored, secret) {
  const bin = Buffer.from(armored.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const end = bin.indexOf('\n---') + 4;
  const macEnd = bin.indexOf('\n', end);
  const header = bin.subarray(0, end);
  const lines = header.toString('latin1').split('\n');
  const i = lines.findIndex((l) => l.startsWith('-> X25519 '));
  if (i < 0) return undefined;
  const share = Buffer.from(lines[i].slice(10), 'base64');
  const identity = privateKey(secret);
  const shared = diffieHellman({ privateKey: identity, publicKey: publicKey(share) });
  let fileKey;
  try {
    fileKey = chacha(hkdf(shared, Buffer.concat([share, rawPublic(identity)]), X25519_LABEL), Buffer.alloc(12), Buffer.from(lines[i + 1], 'base64'), true);
  } catch {
    return undefined;
  }
  const mac = createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header')).update(header).digest();
  if (!timingSafeEqual(mac, Buffer.from(bin.subarray(end + 1, macEnd).toString('latin1'), 'base64'))) throw new Error('header MAC');
  const nonce = bin.subarray(macEnd + 1, macEnd + 17);
  return chacha(hkdf(fileKey, nonce, 'payload'), LAST_CHUNK, bin.subarray(macEnd + 17), true);
}

function ageEncrypt(payload, recipient) {
  const theirs = Buffer.from(bech32.fromWords(bech32.decode(recipient).words));
  const fileKey = randomBytes(16);
  const eph = generateKeyPairSync('x25519');
  const share = rawPublic(eph.privateKey);
  const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: publicKey(theirs) });
  const body = chacha(hkdf(shared, Buffer.concat([share, theirs]), X25519_LABEL), Buffer.alloc(12), fileKey, false);
  const header = `age-encryption.org/v1\n-> X25519 ${b64raw(share)}\n${b64raw(body)}\n---`;
  const mac = createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header')).update(header).digest();
  const nonce = randomBytes(16);
  const bin = Buffer.concat([Buffer.from(`${header} ${b64raw(mac)}\n`), nonce, chacha(hkdf(fileKey, nonce, 'payload'), LAST_CHUNK, payload, false)]);
  const b64 = bin.toString('base64').match(/.{1,64}/g).join('\n');
  return `-----BEGIN AGE ENCRYPTED FILE-----\n${b64}\n-----END AGE ENCRYPTED FILE-----\n`;
}

function gcm(key, value, aad) {
  const m = ENC.exec(value);
  const d = createDecipheriv('aes-256-gcm', key, Buffer.from(m[2], 'base64'));
  d.setAAD(Buffer.from(aad));
  d.setAuthTag(Buffer.from(m[3], 'base64'));
  return Buffer.concat([d.update(Buffer.from(m[1], 'base64')), d.final()]);
}

function seal(key, plain, aad) {
  const iv = randomBytes(32);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(aad));
  const data = Buffer.concat([c.update(plain), c.final()]);
  return `ENC[AES256_GCM,data:${data.toString('base64')},iv:${iv.toString('base64')},tag:${c.getAuthTag().toString('base64')},type:str]`;
}

/** Depth-first over string leaves in file order, replacing each by `f(value, aad)`. */
function walk(node, path, f) {
  if (Array.isArray(node)) return node.map((v) => walk(v, path, f));
  if (node !== null && typeof node === 'object') {
    for (const k of Object.keys(node)) node[k] = walk(node[k], [...path, k], f);
    return node;
  }
  return f(node, `${path.join(':')}:`);
}

if (mode === 'decrypt') {
  const { sops, ...tree } = parse(readFileSync(file, 'utf8'), { uniqueKeys: false });
  const secret = Buffer.from(bech32.fromWords(bech32.decode(process.env.SOPS_AGE_KEY.trim(), 90).words));
  let key;
  for (const e of sops.age) if ((key = ageDecrypt(e.enc, secret))) break;
  const hash = createHash('sha512');
  walk(tree, [], (v, aad) => {
    const plain = gcm(key, v, aad);
    hash.update(plain);
    return plain.toString('utf8');
  });
  if (gcm(key, sops.mac, sops.lastmodified).toString() !== hash.digest('hex').toUpperCase()) throw new Error('MAC mismatch');
  process.stdout.write(stringify(tree));
} else {
  const tree = parse(readFileSync(file, 'utf8'), { uniqueKeys: false });
  const key = randomBytes(32);
  const hash = createHash('sha512');
  walk(tree, [], (v, aad) => {
    const plain = Buffer.from(String(v));
    hash.update(plain);
    return seal(key, plain, aad);
  });
  const lastmodified = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const age = [{ recipient: process.env.SOPS_AGE_RECIPIENTS, enc: ageEncrypt(key, process.env.SOPS_AGE_RECIPIENTS) }];
  tree.sops = { age, lastmodified, mac: seal(key, Buffer.from(hash.digest('hex').toUpperCase()), lastmodified), unencrypted_suffix: '_unencrypted', version: '3.13.2' };
  process.stdout.write(stringify(tree));
}
