/**
 * Native SOPS codec (age recipients), compatible both ways with sops >= 3.7 and
 * sops-nix: store (YAML/JSON/binary) <-> tree <-> value cipher <-> age key source.
 * Format reference: getsops/sops (stores/, aes/cipher.go, sops.go) and https://getsops.io/docs/.
 */
export * from './errors.js';
export { decryptFile, decryptText, openSopsFile } from './decrypt.js';
export type { DecryptedFile, DecryptOptions, OpenOptions } from './decrypt.js';
export { SopsEditor } from './editor.js';
export { encryptFile, encryptText, encryptTree } from './encrypt.js';
export type { EncryptOptions } from './encrypt.js';
export { updateKeys } from './update-keys.js';
export { rotateDataKey } from './rotate.js';
export { encryptedValuePaths } from './value-paths.js';
export type { RotateOptions, RotateResult } from './rotate.js';
export type { UpdateKeysOptions, UpdateKeysResult } from './update-keys.js';
export { parseTreePath, formatTreePath } from './sops-path.js';
export type { TreePath } from './sops-path.js';
export type { PlainMap, PlainValue } from './tree.js';
export type { SopsFormat } from './stores/index.js';
export type { AgeIdentityInput } from './keysource/age.js';
export { collectIdentities } from './keysource/identities.js';
export type { EncryptionRules } from './rules.js';
export { findConfigFile, loadConfig, loadConfigFor, matchRule, parseConfig, ruleForFile } from './sops-config.js';
export type { CreationRule, SopsConfig } from './sops-config.js';
export { addHostRecipient, addHostRecipientToFile, addOperatorRule, addOperatorRuleToFile, defaultHostPathRegex, hostRecipients, removeHostRecipient, removeHostRecipientFromFile } from './sops-config-edit.js';
export type { HostRecipientOptions, OperatorRuleOptions } from './sops-config-edit.js';
export { publicInfo, type PublicInfo } from './public-info.js';
export { SOPS_VERSION } from './metadata.js';
