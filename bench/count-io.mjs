// Preloaded into a deploy-keys process by bench/fleet-cli.mjs (node --import):
// counts what a run costs in durable writes and key imports, whole process,
// and appends one JSON line to $BENCH_COUNT_FILE at exit. Counting, not
// timing: fsyncs (file and directory), atomic rewrites of state files and
// host files (renames onto them), private-key imports by format.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

const counts = { fsyncs: 0, stateWrites: 0, hostFileWrites: 0, derKeyImports: 0, jwkKeyImports: 0 };

const probe = await fs.promises.open(process.execPath, 'r');
const FileHandle = Object.getPrototypeOf(probe);
await probe.close();
for (const m of ['sync', 'datasync']) {
  const orig = FileHandle[m];
  FileHandle[m] = function (...args) {
    counts.fsyncs++;
    return orig.apply(this, args);
  };
}
const rename = fs.promises.rename;
fs.promises.rename = function (from, to) {
  const t = String(to);
  if (/\/deploy-keys-state\/[^/]+\.json$/.test(t)) counts.stateWrites++;
  else if (/\/sops\/[^/]+\.yaml$/.test(t)) counts.hostFileWrites++;
  return rename.call(this, from, to);
};
const createPrivateKey = crypto.createPrivateKey;
crypto.createPrivateKey = function (key, ...rest) {
  const format = key && typeof key === 'object' && !Buffer.isBuffer(key) ? key.format : 'pem';
  if (format === 'der') counts.derKeyImports++;
  else if (format === 'jwk') counts.jwkKeyImports++;
  return createPrivateKey.call(this, key, ...rest);
};
syncBuiltinESMExports(); // named imports of node:crypto / node:fs see the counters

process.on('exit', () => {
  if (process.env.BENCH_COUNT_FILE) fs.appendFileSync(process.env.BENCH_COUNT_FILE, `${JSON.stringify(counts)}\n`);
});
