/**
 * `sops rotate`: a new data key for a file. `updatekeys` keeps the data key, so a
 * recipient removed from the file (a revoked host) that kept the old key, or any
 * old copy of the file, could still open every later version; after a rotation it
 * opens nothing written since.
 */
import type { OpenOptions } from './decrypt.js';
import { openSopsFile } from './decrypt.js';

export interface RotateOptions extends OpenOptions {
  /** Write the rotated file over `file` (atomically, keeping its mode). */
  inPlace?: boolean;
}

export interface RotateResult {
  /** The rotated file's text (also what was written with `inPlace`). */
  text: string;
  /** The recipients the new data key is wrapped for: the file's own. */
  recipients: string[];
}

/**
 * Decrypt `file` (MAC verified), draw a new data key, re-encrypt every value and
 * comment under it with fresh IVs (order, comments and layout kept), recompute
 * the MAC and wrap the key for the same age recipients.
 */
export async function rotateDataKey(file: string, opts: RotateOptions = {}): Promise<RotateResult> {
  const editor = await openSopsFile(file, opts);
  await editor.rotateDataKey();
  const text = await editor.toString();
  if (opts.inPlace) await editor.write(text);
  return { text, recipients: editor.recipients() };
}
