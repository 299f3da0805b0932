#!/usr/bin/env node
// `npx just …` for this project. `just` comes from PATH (Nix dev shell, Debian 13,
// cargo) or, on linux-x64, from the optional npm package rust-just-linux-x64.
// The npm package `rust-just` is not used: it lists a package per platform, and
// `npm ci` refuses a lockfile that lacks those the registry did not serve.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const self = realpathSync(new URL(import.meta.url).pathname);

function onPath() {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir || dir.split(path.sep).includes('node_modules')) continue;
    const candidate = path.join(dir, 'just');
    try {
      accessSync(candidate, constants.X_OK);
      if (realpathSync(candidate) !== self) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function fromNpm() {
  try {
    const require = createRequire(path.join(process.cwd(), 'package.json'));
    return path.join(path.dirname(require.resolve('rust-just-linux-x64/package.json')), 'bin', 'just');
  } catch {
    return undefined;
  }
}

const just = onPath() ?? fromNpm();
if (just === undefined) {
  process.stderr.write('just: not found. Install it (Nix: `nix develop`; Debian 13+: `apt install just`; or `cargo install just`), or run `npm install` on linux-x64.\n');
  process.exit(127);
}
const r = spawnSync(just, process.argv.slice(2), { stdio: 'inherit' });
if (r.error) {
  process.stderr.write(`just: cannot run ${just}: ${r.error.message}\n`);
  process.exit(127);
}
if (r.signal) process.kill(process.pid, r.signal);
process.exit(r.status ?? 1);
