import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../scripts/lib/fs/atomic-write.js';
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
