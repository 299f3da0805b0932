export * from './types.js';
export { parseRepoUrl, parseSshTarget, normalizeHost, hostProblem, knownHostsName, type RepoUrl, type SshTarget } from './repo-url.js';
export { loadConfig, parseConfig, resolveConfigPath, repoByName, hostFilePath, forgeTokenEnv, DEFAULT_CONFIG_NAME } from './load.js';
export { assertHostRepos, assertRepoForHost, repoServesHost, reposForHost, selects } from './hosts.js';
