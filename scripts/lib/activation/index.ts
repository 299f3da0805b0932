export { renderActivationScript, activationDescription, activationInput, renderFromInput, sshFiles, activationTemplate, checkPublicKey, type ActivationOptions, type ActivationDescription, type RenderInput } from './render.js';
export { GITHUB_HOST_KEYS, GITLAB_HOST_KEYS, BUILTIN_HOST_KEYS, REFUSED_FINGERPRINTS, sshFingerprint, validateKnownHosts, pinsFor, renderKnownHostsFile } from './known-hosts.js';
export { gitSshCommand } from './git-ssh.js';
export { repoAlias, aliasUrl, insteadOfRules, renderSshConfigBlock, keyFileName, sshDir, BLOCK_BEGIN, BLOCK_END, KNOWN_HOSTS_FILE } from './ssh-config-block.js';
export { shQuote, shQuoteText } from './shell-quote.js';
export { flakeLockFindings, flakeNixFindings, describeFinding, MAX_FLAKE_FILE_BYTES } from './flake-inputs.js';
export { runActivation, bootstrapOverSsh, encodeKeyStream, bootstrapRemoteCommand, type RunActivationOptions, type BootstrapOptions, type ActivationResult } from './run.js';
