export * from './types.js';
export { parseRepoUrl, knownHostsName, type RepoUrl } from './repo-url.js';
export { loadConfig, parseConfig, resolveConfigPath, repoByName, hostFilePath, forgeTokenEnv, DEFAULT_CONFIG_NAME } from './load.js';
