/** What a program the operator names (extra-files' nixos-anywhere) inherits: everything but this tool's secrets. */
import { describe, expect, it } from 'vitest';
import { operatorCommandEnv } from '../../scripts/lib/process/index.js';

describe('operatorCommandEnv', () => {
  const from = {
    PATH: '/bin',
    NIX_CONFIG: 'experimental-features = nix-command flakes',
    SSH_AUTH_SOCK: '/run/agent',
    https_proxy: 'http://proxy:3128',
    SOPS_AGE_KEY: 'AGE-SECRET-KEY-1…',
    SOPS_AGE_KEY_FILE: '/home/op/keys.txt',
    SOPS_AGE_SSH_PRIVATE_KEY_FILE: '/home/op/.ssh/id_ed25519',
    DEPLOY_KEYS_GITHUB_APP_KEY_FILE: '/run/credentials/app.pem',
    FORGEJO_TOKEN: 'secret',
    GITHUB_TOKEN: 'kept when the forge does not use it',
    UNSET: undefined,
  };

  it("keeps what nix and ssh need; drops the age identities, the App key and the forge token's variable", () => {
    expect(operatorCommandEnv(from, 'FORGEJO_TOKEN')).toEqual({
      PATH: '/bin',
      NIX_CONFIG: 'experimental-features = nix-command flakes',
      SSH_AUTH_SOCK: '/run/agent',
      https_proxy: 'http://proxy:3128',
      GITHUB_TOKEN: 'kept when the forge does not use it',
    });
    expect(operatorCommandEnv(from, undefined)).toHaveProperty('FORGEJO_TOKEN');
  });
});
