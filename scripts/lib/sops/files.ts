/** Reading input files with one-line errors. */
import { readFile } from 'node:fs/promises';
import { SopsFormatError } from './errors.js';

export async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (code ?? 'error');
    throw new SopsFormatError(`cannot read ${file}: ${why}`, { hint: 'check the path' });
  }
}
