/** mulberry32: a small seeded PRNG, so bootstrap intervals are reproducible for a given seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal via Box–Muller (for synthetic data in tests and benchmarks). */
export function gaussian(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** Quantile with linear interpolation (type 7, as numpy's default) of an ascending-sorted array. */
export function quantileSorted(s: number[], q: number): number {
  if (s.length === 0) return NaN;
  const h = (s.length - 1) * q;
  const i = Math.floor(h);
  return i + 1 < s.length ? s[i] + (h - i) * (s[i + 1] - s[i]) : s[i];
}

export function median(v: number[]): number {
  return quantileSorted([...v].sort((a, b) => a - b), 0.5);
}
