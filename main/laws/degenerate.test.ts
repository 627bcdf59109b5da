import { describe, expect, it } from 'vitest';
import { checkFitPoints, fitLaw, fitSeries, groupSeries, pointsFromCsv, pointsFromJson } from './index';
import { lawsRequests } from './requests';

const mk = (t: (i: number) => number, a: (i: number) => number, n = 8) => Array.from({ length: n }, (_, i) => ({ tokens: t(i), activationRatio: a(i) }));
const falling = (i: number) => 0.5 - 0.2 * (1 - Math.exp(-i / 2));

describe('degenerate law fits are refused (issue 19)', () => {
  it('all-zero token counts: one distinct x, no law can be determined', () => {
    for (const form of ['relu', 'log', 'sigmoid'] as const)
      expect(() => fitLaw(mk(() => 0, falling), { form, bootstrap: 0 })).toThrow(`the ${form} form has ${form === 'log' ? 3 : 4} parameters but the points have only 1 distinct token count(s) (all 0): the law cannot be determined`);
  });
  it('1e300 token counts: not a token count', () => {
    expect(() => fitLaw(mk((i) => 1e300 * (i + 1), falling), { form: 'relu', bootstrap: 0 })).toThrow(`tokens 1e+300 is beyond 1e+18 (no training run is that long): is the tokens column in another unit?`);
    expect(() => pointsFromCsv('tokens,activation_ratio\n1e9,0.3\n1e300,0.2\n', 'pts.csv')).toThrow("pts.csv:3: column tokens, value '1e+300': beyond 1e+18 tokens (no training run is that long): another unit?");
  });
  it('fewer distinct token counts than parameters; a constant ratio is flagged', () => {
    expect(() => fitLaw(mk((i) => 1e9 * ((i % 2) + 1), (i) => 0.3 + (i % 2) * 0.1), { form: 'silu', bootstrap: 0 })).toThrow('the silu form has 3 parameters but the points have only 2 distinct token count(s): the law cannot be determined');
    expect(fitLaw(mk((i) => 1e9 * (i + 1), () => 0.3), { form: 'relu', bootstrap: 0 }).warnings).toContain('every fitted activation ratio is 0.3: only A₀ means something, the shape parameters are not determined');
    // the series name is prefixed by fitSeries
    expect(() => fitSeries(mk(() => 0, falling).map((p) => ({ ...p, series: 'run-a' })), { form: 'relu', bootstrap: 0 })).toThrow(/^series run-a: the relu form has 4 parameters but the points have only 1 distinct/);
  });
  it('laws.fit fits the other series when one has too few points, and names the short one; any other error still refuses', () => {
    const good = mk((i) => 1e9 * (i + 1), falling).map((p) => ({ ...p, series: 'long' }));
    const short = mk((i) => 1e9 * (i + 1), falling, 3).map((p) => ({ ...p, series: 'short' }));
    const opts = { form: 'relu' as const, bootstrap: 0 };
    const r = lawsRequests['laws.fit']({ points: [...short, ...good], ...opts });
    expect(r.fits.map((f) => f.series)).toEqual(['long']);
    // the same numbers as the long series fitted alone
    expect(r.fits[0].params).toEqual(fitSeries(good, opts)[0].params);
    expect(r.notFitted).toEqual([{ series: 'short', points: 3, reason: 'the relu form has 4 parameters: its fit needs at least 5 points after the warm-up, got 3 (of 3)' }]);
    // too few distinct token counts count as too few points
    const flat = mk(() => 2e9, falling).map((p) => ({ ...p, series: 'flat' }));
    expect(lawsRequests['laws.fit']({ points: [...good, ...flat], ...opts }).notFitted?.map((n) => n.series)).toEqual(['flat']);
    // every series fitted: no notFitted; none could be: the first one's error, named
    expect(lawsRequests['laws.fit']({ points: good, ...opts }).notFitted).toBeUndefined();
    expect(() => lawsRequests['laws.fit']({ points: [...short, ...flat], ...opts })).toThrow(/^series short: the relu form has 4 parameters: its fit needs at least 5 points/);
    // a bad point is not a short series: the request is refused
    const bad = [...good, { tokens: 1e9, activationRatio: 1.5, series: 'bad' }];
    expect(() => lawsRequests['laws.fit']({ points: bad, ...opts })).toThrow(/^series bad: point \(tokens 1000000000, activation ratio 1\.5\) is invalid/);
    // laws across series need every series: a short one still refuses them
    expect(() => fitSeries([...short, ...good], opts)).toThrow(/^series short: /);
  });
  it('a well-posed series still fits (the checks are not over-eager)', () => {
    const f = fitLaw(mk((i) => 1e9 * (i + 1), falling), { form: 'relu', bootstrap: 0 });
    expect(Number.isFinite(f.A0)).toBe(true);
    expect(() => checkFitPoints(mk((i) => 1e9 * (i + 1), falling), 'relu')).not.toThrow();
  });
  it('groupSeries and import are linear: 300k rows are refused (over the fit limit) and 150k group in one pass', () => {
    const head = 'series,tokens,activation_ratio\n';
    const rows = (n: number) => head + Array.from({ length: n }, (_, i) => `s${i % 3},${(i + 1) * 1e6},0.3`).join('\n');
    expect(() => pointsFromCsv(rows(300_000), 'big.csv')).toThrow('big.csv has 300000 rows; a fit takes at most 200000 points: thin the series or split the file');
    expect(() => pointsFromJson(JSON.stringify({ tokens: new Array(200_001).fill(1), activation_ratio: new Array(200_001).fill(0.1) }), 'big.json')).toThrow('big.json has 200001 rows; a fit takes at most 200000 points');
    const pts = pointsFromCsv(rows(150_000), 'ok.csv');
    const g = groupSeries(pts);
    expect([...g.keys()]).toEqual(['s0', 's1', 's2']);
    expect([...g.values()].map((v) => v.length)).toEqual([50_000, 50_000, 50_000]);
    expect(g.get('s1')![1]).toBe(pts[4]); // order kept, same objects
  });
});
