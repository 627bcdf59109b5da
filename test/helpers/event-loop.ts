/**
 * The longest gap between turns of this thread's event loop while something runs (tests that work moved off the
 * engine's thread leaves it answering): a 5 ms interval notes the largest time between its ticks.
 */
export function stallMeter(): { stop(): number } {
  let last = performance.now();
  let stall = 0;
  const tick = setInterval(() => {
    const t = performance.now();
    stall = Math.max(stall, t - last);
    last = t;
  }, 5);
  return {
    /** ends the measurement; the longest gap in ms */
    stop(): number {
      clearInterval(tick);
      return Math.max(stall, performance.now() - last);
    },
  };
}

/**
 * `work` with `other` sent right behind it (another engine request): when each was answered, in ms from the start,
 * and the longest event-loop gap meanwhile.
 */
export async function alongside<T>(work: () => Promise<T>, other: () => Promise<unknown>): Promise<{ result: T; doneMs: number; otherMs: number; stall: number }> {
  const meter = stallMeter();
  const t0 = performance.now();
  let doneMs = 0;
  let otherMs = 0;
  const [result] = await Promise.all([work().then((r) => ((doneMs = performance.now() - t0), r)), other().then(() => (otherMs = performance.now() - t0))]);
  return { result, doneMs, otherMs, stall: meter.stop() };
}

/**
 * Waits `ms` and returns this thread's longest event-loop gap meanwhile: how late the loop turns beside the present
 * load (the work in the workers, the rest of the machine). A baseline measured in the same run for the bounds of
 * "answered at once": ≈ 5–20 ms on the idle 2-core dev machine; up to half a second beside the suite at load 8–10.
 */
export async function lagOver(ms: number): Promise<number> {
  const meter = stallMeter();
  await new Promise((r) => setTimeout(r, ms));
  return meter.stop();
}

/**
 * The bound of "answered at once" (within `base` ms on an idle machine) beside a loop lag measured in the same run:
 * `base` plus twice the lag, so a busy CI machine's scheduler does not fail it while a request that waits for the work
 * (a tensor's conversion, a fit, a native call: seconds) still does.
 */
export function atOnceMs(lag: number, base = 300): number {
  return base + 2 * lag;
}
