/** Shared helpers for forge tests: repo configs and throwaway public keys. */
import { generateKeyPairSync } from 'node:crypto';
import type { RepoConfig } from '../../scripts/lib/config/types.js';
import { createGithubForge, type GithubCommonOptions, type GithubForge } from '../../scripts/lib/forge/github.js';
import { parseRepoUrl } from '../../scripts/lib/config/repo-url.js';
import { ed25519PublicKeyLine } from '../../scripts/lib/keys/public-key.js';
import { parsePublicKey } from '../../scripts/lib/keys/public-key.js';

/** A RepoConfig for `owner/repo` on github.com (or any URL given). */
export function repoConfig(ownerRepoOrUrl: string, name?: string): RepoConfig {
  const raw = ownerRepoOrUrl.includes('@') ? ownerRepoOrUrl : `git@github.com:${ownerRepoOrUrl}.git`;
  const url = parseRepoUrl(raw);
  if (typeof url === 'string') throw new Error(`bad test repo URL ${raw}: ${url}`);
  return { name: name ?? url.repo, url, cloneTo: `/var/lib/${url.repo}` };
}

/** A fresh ed25519 public key line (the private half is discarded). */
export function testPublicKey(comment?: string): { line: string; fingerprint: string } {
  const { publicKey } = generateKeyPairSync('ed25519');
  const x = publicKey.export({ format: 'jwk' }).x!;
  const line = ed25519PublicKeyLine(new Uint8Array(Buffer.from(x, 'base64url')), comment);
  return { line, fingerprint: parsePublicKey(line).fingerprint };
}

/** Records warnings instead of printing them. */
export function collectWarnings(): { warn: (m: string) => void; messages: string[] } {
  const messages: string[] = [];
  return { warn: (m) => messages.push(m), messages };
}

/** A token-authenticated GitHub provider against a double at `apiUrl`: no write limits, fast backoff. */
export function githubTokenForge(apiUrl: string, token: string, warn: (m: string) => void, extra: Partial<GithubCommonOptions> = {}): Promise<GithubForge> {
  return createGithubForge({ apiUrl, token, tokenEnv: 'GH_TEST_TOKEN', writesPerMinute: 0, writesPerHour: 0, retryBaseMs: 5, warn, ...extra });
}
