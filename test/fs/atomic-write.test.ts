import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureDir, tempPath, writeFileAtomic } from '../../scripts/lib/fs/index.js';
import { DeployKeysError } from '../../scripts/lib/errors.js';

const fresh = () => mkdtempSync(path.join(tmpdir(), 'dk-atomic-'));

describe('writeFileAtomic', () => {
  it('creates new files 0600 and keeps the mode of replaced ones', async () => {
    const dir = fresh();
    await writeFileAtomic(path.join(dir, 'new'), 'secret');
    expect(statSync(path.join(dir, 'new')).mode & 0o777).toBe(0o600);
    writeFileSync(path.join(dir, 'old'), 'x', { mode: 0o640 });
    chmodSync(path.join(dir, 'old'), 0o640);
    await writeFileAtomic(path.join(dir, 'old'), 'y');
    expect(statSync(path.join(dir, 'old')).mode & 0o777).toBe(0o640);
    expect(readFileSync(path.join(dir, 'old'), 'utf8')).toBe('y');
    await writeFileAtomic(path.join(dir, 'old'), 'z', { mode: 0o644 });
    expect(statSync(path.join(dir, 'old')).mode & 0o777).toBe(0o644);
    expect(readdirSync(dir).sort()).toEqual(['new', 'old']);
  });

  it('refuses to replace something that is not a regular file (a FIFO, like /dev/null)', async () => {
    const dir = fresh();
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await expect(writeFileAtomic(fifo, 'secret')).rejects.toThrow(/not a regular file/);
    expect(statSync(fifo).isFIFO()).toBe(true);
    expect(readdirSync(dir)).toEqual(['fifo']);
  });

  it('fails with one line naming the file when the directory is missing, leaving nothing behind', async () => {
    const dir = fresh();
    const err = await writeFileAtomic(path.join(dir, 'missing', 'f'), 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeployKeysError);
    expect((err as DeployKeysError).oneLine()).toMatch(/^cannot write .*missing\/f: its directory does not exist/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe.skipIf(process.getuid?.() !== 0)('writeFileAtomic as root', () => {
  it('gives the new file its owner before it appears', async () => {
    const dir = fresh();
    const file = path.join(dir, 'authorized_keys');
    await writeFileAtomic(file, 'x\n', { mode: 0o600, owner: { uid: 65534, gid: 65534 } });
    const st = statSync(file);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([65534, 65534, 0o600]);
  });
});

describe('temp files left by a killed writer (issue 10, finding 8)', () => {
  const deadPid = () => {
    // A process that has exited: its pid is free (and not reused this quickly).
    const out = execFileSync('sh', ['-c', 'sh -c "echo \\$\\$"'], { encoding: 'utf8' });
    return Number(out.trim());
  };

  it('the next write into the directory removes temp files whose process is gone, and only those', async () => {
    const dir = fresh();
    const target = path.join(dir, 'plain.yaml');
    const stale = tempPath(target, deadPid());
    writeFileSync(stale, 'decrypted secret\n', { mode: 0o600 });
    const live = tempPath(target, process.pid);
    writeFileSync(live, 'being written\n', { mode: 0o600 });
    // Not this pattern: somebody else's files.
    const foreign = ['.plain.yaml.tmp', '.plain.yaml.dk-tmp.1234', `${path.basename(stale)}x`, 'notes.dk-tmp.00000000.1.000000000000'];
    for (const f of foreign) writeFileSync(path.join(dir, f), 'x');
    await writeFileAtomic(path.join(dir, 'other'), 'y');
    expect(readdirSync(dir).sort()).toEqual([path.basename(live), ...foreign, 'other'].sort());
  });

  it('a temp file is named after its process, so a kill leaves a file the sweep recognises', () => {
    const name = path.basename(tempPath('/x/host.yaml'));
    expect(name).toMatch(new RegExp(`^\\.host\\.yaml\\.dk-tmp\\.[0-9a-f]{8}\\.${process.pid}\\.[0-9a-f]{12}$`));
  });
});

describe('directories (issue 10, finding 3)', () => {
  it('ensureDir creates each missing directory with exactly the mode asked for', async () => {
    const dir = fresh();
    await ensureDir(path.join(dir, 'a/b/c'), 0o750);
    for (const d of ['a', 'a/b', 'a/b/c']) expect(statSync(path.join(dir, d)).mode & 0o7777, d).toBe(0o750);
    await ensureDir(path.join(dir, 'a/b/c'));
    expect(statSync(path.join(dir, 'a/b/c')).mode & 0o7777).toBe(0o750);
  });

  it('refuses to write into a directory every user may write to (no sticky bit)', async () => {
    const dir = fresh();
    const open = path.join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    await expect(ensureDir(path.join(open, 'sub'))).rejects.toThrow(/open is writable by every user \(mode 777\)/);
    await expect(writeFileAtomic(path.join(open, 'f'), 'x')).rejects.toThrow(/writable by every user/);
    expect(readdirSync(open)).toEqual([]);
    chmodSync(open, 0o1777);
    await writeFileAtomic(path.join(open, 'f'), 'x');
    expect(readFileSync(path.join(open, 'f'), 'utf8')).toBe('x');
  });
});
