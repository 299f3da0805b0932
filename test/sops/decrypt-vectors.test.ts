import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decryptFile, SopsDecryptError, SopsMacMismatchError } from '../../scripts/lib/sops/index.js';
import { entries, identityText, vectorPath, vectors } from './vectors.js';

const positive = vectors.filter((v) => v.outcome === 'ok');
const negative = vectors.filter((v) => v.outcome !== 'ok');

describe('real sops vectors decrypt (MAC verified)', () => {
  it('covers every positive vector of the manifest', () => {
    expect(positive.length).toBe(18);
  });

  it.each(positive.map((v) => [v.file, v] as const))('%s', async (_name, v) => {
    const out = await decryptFile(vectorPath(v.file), { identities: [identityText(v)].flatMap(keysOf) });
    const expected: unknown = JSON.parse(readFileSync(vectorPath(v.expected!), 'utf8'));
    expect(entries(out.tree)).toEqual(entries(expected));
  });
});

describe('negative vectors fail with the right error', () => {
  it.each(negative.map((v) => [v.file, v] as const))('%s', async (_name, v) => {
    const run = decryptFile(vectorPath(v.file), { identities: keysOf(identityText(v)) });
    const cls = v.outcome.includes('MAC mismatch') ? SopsMacMismatchError : SopsDecryptError;
    const err = await run.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(cls);
    const msg = (err as Error).message;
    expect(msg).toContain(v.file);
    expect(msg).not.toContain('\n');
    if (cls === SopsDecryptError) expect(msg).toMatch(/at (spec:secretTemplates:stringData:username|secret) \(authentication failed/);
  });

  it('the MAC mismatch vectors decrypt only with an explicit ignoreMac', async () => {
    const v = negative.find((n) => n.file === 'derived/mac-mismatch-keys-reordered.yaml')!;
    const out = await decryptFile(vectorPath(v.file), { identities: keysOf(identityText(v)), ignoreMac: true });
    expect([...(out.tree as Map<string, unknown>).keys()].slice(0, 2)).toEqual(['string', 'secret']);
  });
});

/** The AGE-SECRET-KEY lines of a keys file. */
function keysOf(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}
