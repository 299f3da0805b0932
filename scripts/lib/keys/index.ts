/** SSH keys: generation, parsing, fingerprints (OpenSSH encodings through sshpk). */
export { generateDeployKey, type DeployKey } from './ed25519.js';
export { Ed25519PrivateKey, parsePrivateKey, encodeOpenSSHPrivateKey, ed25519PublicFromSeed } from './private-key.js';
export {
  parsePublicKey,
  fingerprintOf,
  ed25519PublicKeyLine,
  ed25519KeyFromBlob,
  RSA_MIN_BITS,
  type SshPublicKey,
  type SshKeyType,
} from './public-key.js';
export { assertComment, commentProblem, COMMENT_MAX } from './comment.js';
