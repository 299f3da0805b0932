import { createRequire } from 'node:module';

/** The package's version, from its own package.json (found by the package's name: source and dist alike). */
export function version(): string {
  const pkg = createRequire(import.meta.url)('nix-deploy-keys/package.json') as { version: string };
  return pkg.version;
}
