export * from './types.js';
export { parseRepoUrl, knownHostsName, type RepoUrl } from './repo-url.js';
export { loadConfig, parseConfig, resolveConfigPath, repoByName, hostFilePath, DEFAULT_CONFIG_NAME } from './load.js';
