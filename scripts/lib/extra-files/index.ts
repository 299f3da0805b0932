/**
 * The tree `nixos-anywhere --extra-files` installs on a new host: its ssh host
 * key (and, if asked, root's deploy keys), and the command line that does it.
 * See README.md.
 */
export { DEFAULT_HOST_KEY_PATH, hostKeyEntries, pathComponents, type TreeEntry } from './tree.js';
export { listTree, removeTree, writeTree, type Listing, type TreeOptions } from './write.js';
export { installTarget, nixosAnywhereArgv, shellLine, type InstallTarget } from './command.js';
export { pinHostKey } from './known-hosts-pin.js';
