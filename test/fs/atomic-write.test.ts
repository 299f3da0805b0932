import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureDir, secretTempDir, sweepStaleTemps, tempPath, withSecretTempDir, writeFileAtomic } from '../../scripts/lib/fs/index.js';
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

describe('secret temp directories', () => {
  const deadPid = () => Number(execFileSync('sh', ['-c', 'sh -c "echo \\$\\$"'], { encoding: 'utf8' }).trim());

  it('are 0700 whatever the umask, named after their process', async () => {
    const dir = fresh();
    const old = process.umask(0);
    let made: string;
    try {
      made = await secretTempDir(dir, 'extra-files');
    } finally {
      process.umask(old);
    }
    expect(statSync(made).mode & 0o7777).toBe(0o700);
    expect(path.basename(made)).toMatch(new RegExp(`^\\.extra-files\\.dk-tmp\\.[0-9a-f]{8}\\.${process.pid}\\.[0-9a-f]{12}$`));
  });

  it('one a killed process left is swept with its content; a live process keeps its own', async () => {
    const dir = fresh();
    const stale = tempPath(path.join(dir, 'extra-files'), deadPid());
    mkdirSync(path.join(stale, 'etc/ssh'), { recursive: true });
    writeFileSync(path.join(stale, 'etc/ssh/ssh_host_ed25519_key'), 'PRIVATE KEY\n', { mode: 0o600 });
    const live = tempPath(path.join(dir, 'extra-files'), process.pid);
    mkdirSync(live);
    const other = path.join(dir, 'extra-files');
    mkdirSync(other);
    expect(await sweepStaleTemps(dir)).toEqual([stale]);
    expect(readdirSync(dir).sort()).toEqual([path.basename(live), 'extra-files'].sort());
  });

  it('withSecretTempDir removes the directory after success and after a failure', async () => {
    const dir = fresh();
    let seen = '';
    await withSecretTempDir(dir, 'x', async (d) => {
      seen = d;
      writeFileSync(path.join(d, 'key'), 'secret');
    });
    expect(seen).not.toBe('');
    await expect(
      withSecretTempDir(dir, 'x', async (d) => {
        writeFileSync(path.join(d, 'key'), 'secret');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(readdirSync(dir)).toEqual([]);
  });
});

