#!/usr/bin/env node
// The npm registry tarballs package-lock.json needs, in one directory, each
// file named by the SHA-256 of its integrity string and checked against it:
// the output of the fixed-output derivation in nix/package.nix. The files are
// the registry's bytes, so their NAR hash does not depend on the npm version.
// The registry is npm's own default, or $npm_config_registry.
//
//   node nix/fetch-npm-tarballs.mjs LIST.json OUT-DIR
//       LIST is nix/npm-tarballs.nix's `tarballs` as JSON (what the derivation runs)
//   node nix/fetch-npm-tarballs.mjs --update
//       after package-lock.json changed: fetch, hash with nix, rewrite nix/npm-deps.json
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const BATCH = 50;

/** @returns {never} */
function fail(message) {
  process.stderr.write(`fetch-npm-tarballs: ${message}\n`);
  process.exit(1);
}

/** True when the file's digest is one of those the integrity string (SRI) lists. */
function matches(file, integrity) {
  const bytes = readFileSync(file);
  return integrity.split(/\s+/).some((entry) => {
    const m = /^(sha512|sha384|sha256|sha1)-([A-Za-z0-9+/]+=*)$/.exec(entry);
    return m !== null && createHash(m[1]).update(bytes).digest('base64') === m[2];
  });
}

function fetchAll(list, out) {
  mkdirSync(out, { recursive: true });
  const work = mkdtempSync(path.join(process.env.TMPDIR ?? tmpdir(), 'npm-pack-'));
  try {
    for (let i = 0; i < list.length; i += BATCH) {
      const batch = list.slice(i, i + BATCH);
      let packed;
      try {
        const json = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work, ...batch.map((t) => t.spec)], {
          encoding: 'utf8',
          maxBuffer: 256 * 1024 * 1024,
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        packed = JSON.parse(json);
      } catch (e) {
        fail(`npm pack failed for ${batch[0].spec} … ${batch[batch.length - 1].spec}: ${e.message.split('\n')[0]}`);
      }
      for (const t of batch) {
        const p = packed.find((r) => r.id === t.spec || `${r.name}@${r.version}` === t.spec);
        if (!p) fail(`npm pack did not return ${t.spec}`);
        const file = path.join(work, p.filename);
        if (!matches(file, t.integrity)) fail(`${t.spec}: the registry's tarball does not match the lockfile's integrity ${t.integrity}`);
        renameSync(file, path.join(out, t.file));
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function update() {
  const root = path.resolve(import.meta.dirname, '..');
  const run = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    } catch {
      return fail(`${cmd} failed (see above)`);
    }
  };
  const nixEval = (attr) =>
    JSON.parse(run('nix-instantiate', ['--eval', '--strict', '--json', '-E', `(import ${root}/nix/npm-tarballs.nix ${root}/package-lock.json).${attr}`]));
  const work = mkdtempSync(path.join(tmpdir(), 'npm-deps-'));
  try {
    const out = path.join(work, 'deps');
    fetchAll(nixEval('tarballs'), out);
    const hash = run('nix', ['--extra-experimental-features', 'nix-command', 'hash', 'path', '--type', 'sha256', '--sri', out]).trim();
    const file = path.join(root, 'nix/npm-deps.json');
    writeFileSync(file, `${JSON.stringify({ fingerprint: nixEval('fingerprint'), hash }, null, 2)}\n`);
    process.stdout.write(`${path.relative(process.cwd(), file)}: ${hash}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const args = process.argv.slice(2);
if (args.length === 1 && args[0] === '--update') update();
else if (args.length === 2) fetchAll(JSON.parse(readFileSync(args[0], 'utf8')), args[1]);
else fail('usage: fetch-npm-tarballs.mjs LIST.json OUT-DIR | --update');
