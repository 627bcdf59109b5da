import { describe, expect, it } from 'vitest';
import { authorsBisect, authorsEps, authorsGridBounds, bisectionDepth, linspaceAt, linspaceF32, outerMid, outerNarrow, outerSteps, quantileLinear, subtreeNodes, walkPath } from './authors-search';

describe("the authors' grid and path (torch fp32 semantics)", () => {
  it('quantile: torch.quantile([1,2,3,4,5], 0.99) = 4.96 (fp32), and its lerp branches', () => {
    expect(quantileLinear(Float32Array.from([1, 2, 3, 4, 5]), 0.99)).toBe(Math.fround(4.96));
    expect(quantileLinear(Float32Array.from([0, 10]), 0.99)).toBe(Math.fround(9.9)); // w ≥ 0.5: b − (b−a)(1−w)
    expect(quantileLinear(Float32Array.from([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200, 210, 220, 230, 240, 250, 260, 270, 280, 290, 300, 310, 320, 330, 340, 350, 360, 370, 380, 390, 400, 410, 420, 430, 440, 450, 460, 470, 480, 490, 500, 510, 520, 530, 540, 550, 560, 570, 580, 590, 600, 610, 620, 630, 640, 650, 660, 670, 680, 690, 700, 710, 720, 730, 740, 750, 760, 770, 780, 790, 800, 810, 820, 830, 840, 850, 860, 870, 880, 890, 900, 910, 920, 930, 940, 950, 960, 970, 980, 990, 1000]), 0.99)).toBeCloseTo(990, 3);
  });
  it('linspace: exact endpoints from both halves, torch.linspace(0, 1, 5)', () => {
    expect(Array.from(linspaceF32(0, 1, 5))).toEqual([0, 0.25, 0.5, 0.75, 1]);
    const g = linspaceF32(0.1, 7.3, 65536);
    expect(g[0]).toBe(Math.fround(0.1));
    expect(g[65535]).toBe(Math.fround(7.3)); // the second half counts down from end: the end is exact
    for (const i of [0, 1, 32767, 32768, 65535]) expect(linspaceAt(0.1, 7.3, i)).toBe(g[i]);
    expect(Array.from(linspaceF32(2, 2, 4))).toEqual([2, 2, 2, 2]);
  });
  it('grid bounds: min and q99 of the strided subsample', () => {
    const n = Float32Array.from({ length: 200000 }, (_, i) => (i * 7919) % 1000);
    const stride = Math.floor(200000 / 65536); // 3
    const sub = Float32Array.from({ length: Math.ceil(200000 / stride) }, (_, k) => n[k * stride]).sort();
    expect(authorsGridBounds(n)).toEqual({ start: 0, end: quantileLinear(sub, 0.99) });
  });
  it('bisection: the path, resuming, the subtree and the ε rule', () => {
    const curve = Float64Array.from({ length: 65536 }, (_, i) => i / 65535);
    const left = authorsBisect((m) => curve[m], 0.25);
    expect(curve[left]).toBeGreaterThan(0.25);
    expect(curve[left - 1]).toBeLessThanOrEqual(0.25);
    const seen = new Map<number, number>();
    authorsBisect((m) => (seen.set(m, curve[m]), curve[m]), 0.25);
    expect(seen.size).toBe(16);
    expect(walkPath((m) => seen.get(m), 0.25)).toEqual({ left, right: left });
    const part = walkPath((m) => (m > 30000 ? seen.get(m) : undefined), 0.25);
    expect(part.left).toBeLessThan(part.right);
    expect(bisectionDepth(0, 65535)).toBe(16);
    expect(subtreeNodes(0, 65535, 2)).toEqual([32767, 16383, 49151]);
    expect(subtreeNodes(3, 4, 2)).toEqual([3, -1, -1]);
    expect(authorsEps(0, () => 9)).toEqual({ eps: 0, clampedLow: true });
    expect(authorsEps(5, (i) => i * 2)).toEqual({ eps: 8, clampedLow: false });
  });
});

describe('the outer bisection of CETT-PPL-p% (Algorithm 1)', () => {
  it('finds the CETT where a monotone PPL ratio crosses 1 + p%, in outerSteps steps, each next c among the predicted two', () => {
    // PPL ratio 1 + 0.1·c²: the 1% target is met below c* = sqrt(0.1)
    const ratio = (c: number) => 1 + 0.1 * c * c;
    for (const tol of [1e-2, 1e-3, 1e-6]) {
      const s = { l: 0, r: 1 };
      let steps = 0;
      let predicted: number[] | undefined;
      while (s.r - s.l > tol) {
        const { c, next } = outerMid(s);
        if (predicted) expect(predicted).toContain(c);
        predicted = next;
        outerNarrow(s, c, ratio(c), 1);
        steps++;
      }
      expect(steps).toBe(outerSteps(tol));
      expect(s.l).toBeLessThanOrEqual(Math.sqrt(0.1));
      expect(s.r).toBeGreaterThanOrEqual(Math.sqrt(0.1));
      expect(ratio(s.l)).toBeLessThan(1.01);
      expect(ratio(s.r)).toBeGreaterThanOrEqual(1.01);
      // resumed from a saved interval, the steps left are those of its width
      expect(outerSteps(tol, { l: 0.25, r: 0.5 })).toBe(Math.max(0, outerSteps(tol) - 2));
    }
  });
});
