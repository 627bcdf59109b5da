// The run monitor's ETA line (renderer/src/eta.ts): the engine's steady-rate figure counted down between events;
// "estimating…" (or the pilot estimate less the time so far) while the engine has none; the old scaling without it.
import { expect, test } from 'vitest';
import { etaLine, type EtaJob } from '../../renderer/src/eta';

const t0 = Date.parse('2026-12-04T10:00:00Z');
const job = (o: Partial<EtaJob>): EtaJob => ({ status: 'running', startedAt: new Date(t0).toISOString(), etaSec: null, ...o });

test('the engine\'s figure, counted down from its event and never below 0', () => {
  expect(etaLine(job({ overall: 0.3, overallEtaSec: 125, progressAt: t0 + 60_000 }), t0 + 60_000).text).toBe('2m 5s');
  expect(etaLine(job({ overall: 0.3, overallEtaSec: 125, progressAt: t0 + 60_000 }), t0 + 80_000).text).toBe('1m 45s');
  expect(etaLine(job({ overall: 0.3, overallEtaSec: 5, progressAt: t0 }), t0 + 80_000).text).toBe('0s');
});

test('no figure yet: the pilot estimate less the time so far, marked; without one (or past it) "estimating…"', () => {
  expect(etaLine(job({ overall: 0.01, overallEtaSec: null, pilotSeconds: 600 }), t0 + 90_000).text).toBe('≈ 8m 30s (pilot)');
  expect(etaLine(job({ overall: 0.01, overallEtaSec: null, pilotSeconds: 60 }), t0 + 90_000).text).toBe('estimating…');
  expect(etaLine(job({ overall: 0.01, overallEtaSec: null }), t0 + 1000).text).toBe('estimating…');
  // a resumed run's time so far counts from its resume, not its first start an hour before
  expect(etaLine(job({ startedAt: new Date(t0 - 3_600_000).toISOString(), resumedAt: new Date(t0).toISOString(), overallEtaSec: null, pilotSeconds: 600 }), t0 + 90_000).text).toBe('≈ 8m 30s (pilot)');
});

test('an engine without the figure: time so far scaled by the overall fraction, or the phase ETA; none when done', () => {
  // 40 s for a quarter: 120 s to go
  expect(etaLine(job({ overall: 0.25 }), t0 + 40_000).text).toBe('2m 0s');
  expect(etaLine(job({ etaSec: 42 }), t0 + 40_000).text).toBe('42s');
  // too little done to scale, or no event yet (a job just started): no number
  expect(etaLine(job({ overall: 0.01 }), t0 + 40_000).text).toBe('estimating…');
  expect(etaLine(job({}), t0 + 1000).text).toBe('estimating…');
  expect(etaLine(job({ status: 'failed', overall: 0.01 }), t0 + 40_000).text).toBe('—');
  // a finished job: no figure, whatever came last
  expect(etaLine(job({ status: 'completed', overall: 1, overallEtaSec: 30 }), t0 + 40_000).text).toBe('—');
});
