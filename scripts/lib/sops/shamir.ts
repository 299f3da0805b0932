/**
 * Shamir secret sharing over GF(2^8) with the AES polynomial 0x11B, as used by sops
 * key groups (spec §5.4). A share is the y-bytes followed by one x-coordinate byte.
 */

function mul(a: number, b: number): number {
  let r = 0;
  for (; b > 0; b >>= 1) {
    if (b & 1) r ^= a;
    a <<= 1;
    if (a & 0x100) a ^= 0x11b;
  }
  return r;
}

/** a^254 = a^-1 in GF(2^8). */
function inv(a: number): number {
  let r = 1;
  for (let e = 254, base = a; e > 0; e >>= 1, base = mul(base, base)) if (e & 1) r = mul(r, base);
  return r;
}

/** Lagrange interpolation at x = 0 of each byte; throws on malformed or duplicate shares. */
export function combineShares(shares: readonly Uint8Array[]): Uint8Array {
  const first = shares[0];
  if (!first || first.length < 2) throw new Error('need at least one share of two bytes or more');
  const len = first.length - 1;
  const points = shares.map((s) => {
    const x = s[len];
    if (s.length !== len + 1 || x === undefined) throw new Error('shares have different lengths');
    return { x, y: s.subarray(0, len) };
  });
  if (new Set(points.map((p) => p.x)).size !== points.length) throw new Error('duplicate share x-coordinates');
  const out = new Uint8Array(len);
  for (const pj of points) {
    // basis_j(0) = prod_{m != j} x_m / (x_m - x_j); subtraction is XOR
    let basis = 1;
    for (const pm of points) if (pm !== pj) basis = mul(basis, mul(pm.x, inv(pm.x ^ pj.x)));
    pj.y.forEach((y, i) => {
      out[i] = (out[i] ?? 0) ^ mul(y, basis);
    });
  }
  return out;
}
