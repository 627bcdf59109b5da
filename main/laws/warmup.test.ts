import { describe, expect, it } from 'vitest';
import { autoWarmup, warmupReason } from './warmup';
import { fitLaw } from './fit';

// Successive differences of these series are all −1 but for the warm-up's, so their MAD is 0 and σ̂ = 0.
const falling = (warm: number[]) => [...warm, ...Array.from({ length: 12 - warm.length }, (_, i) => 9 - i)];
const PAPER = /the paper \(App\. E\) likewise leaves out the checkpoints of the warm-up stage, before the power law holds$/;

describe('warm-up reason, in words', () => {
  it('0 warm-up points: says none and that every point is fitted', () => {
    const r = autoWarmup(falling([]), -1, 4);
    expect(r.k).toBe(0);
    expect(r.reason).toBe('none: the series follows the law from its first point (within the noise σ̂ = 0.00e+0), so all 12 points are fitted');
  });
  it('1 warm-up point: singular, names the point and where the fit starts', () => {
    const s = autoWarmup([10, 10.5, ...falling([]).slice(2)], -1, 4); // 10, 10.5, 7, 6 …: point 2 rises
    expect(s.k).toBe(1);
    expect(s.reason).toMatch(/^point 1 of 12 left out because the series does not fall yet: point 2 is still as high as every point before it \(within the noise σ̂ = [\d.]+e[+-]\d+\), so the fit starts at point 2; /);
    expect(s.reason).toMatch(PAPER);
  });
  it('several warm-up points: a range, plural; a rising law says "rise" and "low"', () => {
    const y = [10, 10.2, 10.4, 10.6, ...falling([]).slice(4)];
    const r = autoWarmup(y, -1, 4);
    expect(r.k).toBe(3);
    expect(r.reason).toMatch(/^points 1–3 of 12 left out because the series does not fall yet: point 4 is still as high as every point before it \(within the noise σ̂ = [\d.]+e[+-]\d+\), so the fit starts at point 4; /);
    const up = autoWarmup(y.map((v) => -v), 1, 4);
    expect(up.k).toBe(3);
    expect(up.reason).toMatch(/^points 1–3 of 12 left out because the series does not rise yet: point 4 is still as low as every point before it/);
    for (const s of [r.reason, up.reason]) expect(s).not.toMatch(/\(s\)|come before/);
  });
  it('a rule capped by the points the form needs says what it found and what it kept', () => {
    const y = [10, 10.2, 10.4, 10.6, ...falling([]).slice(4)];
    const r = autoWarmup(y, -1, 10);
    expect(r.k).toBe(2);
    expect(r.reason).toMatch(/^points 1–2 of 12 left out: points 1–3 of 12 look like warm-up \(the series does not fall yet: point 4 .*\), but this form's fit needs at least 10 points, so only 2 can go; /);
    const none = autoWarmup(y, -1, 12);
    expect(none.k).toBe(0);
    expect(none.reason).toMatch(/^none: points 1–3 of 12 look like warm-up \(.*\), but this form's fit needs at least 12 points, so all 12 are fitted$/);
    const one = autoWarmup([10, 10.5, ...falling([]).slice(2)], -1, 12);
    expect(one.reason).toMatch(/^none: point 1 of 12 looks like warm-up/);
  });
  it('set by hand or off: singular/plural right, as fitLaw reports it', () => {
    expect(warmupReason('first-k', 0, 9)).toBe('none, all 9 points fitted');
    expect(warmupReason('first-k', 1, 9)).toBe('point 1 of 9 left out, as asked');
    expect(warmupReason('first-k', 3, 9)).toBe('points 1–3 of 9 left out, as asked');
    expect(warmupReason('none', 0, 9)).toBe('none, all 9 points fitted');
    const pts = Array.from({ length: 9 }, (_, i) => ({ tokens: (i + 1) * 1e9, activationRatio: 0.07 + 0.03 / (i + 1) }));
    expect(fitLaw(pts, { form: 'relu', dropFirst: 2, bootstrap: 0 }).warmup.reason).toBe('points 1–2 of 9 left out, as asked');
    expect(fitLaw(pts, { form: 'relu', bootstrap: 0 }).warmup.reason).toBe('none, all 9 points fitted');
  });
});
