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
