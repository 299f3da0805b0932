/** Reading input files with one-line errors, never more than the input limit. */
import { open } from 'node:fs/promises';
import { checkInputSize } from '../bounded-yaml/index.js';
import { SopsFormatError } from './errors.js';

export async function readText(file: string): Promise<string> {
  let handle;
  try {
    handle = await open(file, 'r');
    // Checked before reading: a huge file fails at once instead of filling memory.
    checkInputSize((await handle.stat()).size, file);
    return await handle.readFile('utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === undefined) throw e;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : code;
    throw new SopsFormatError(`cannot read ${file}: ${why}`, { hint: 'check the path' });
  } finally {
    await handle?.close();
  }
}
