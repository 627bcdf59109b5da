/**
 * The Measure wizard's form, kept for the window's lifetime: leaving the wizard (to look at Load checkpoints, the
 * monitor, a chart) and coming back finds what was typed — model, p, the sweep, token budget, provider… — instead of
 * the defaults. `reset()` is the wizard's "Reset form".
 *
 * What the wizard fills in by itself (the session's last checkpoint and evaluation text, a sequence length lowered to
 * the model's context) is remembered as such (`chosen`): the session's own choice may replace a default the wizard
 * picked earlier (another session's, the demo text), never a value the user typed.
 */
import { defineStore } from 'pinia';
import { ref, type Ref } from 'vue';

export type MeasureMethod = 'cett-ppl' | 'relu' | 'topk-token' | 'topk-batch' | 'fat';

/** The form's fields and their defaults (what a fresh wizard shows). */
export function measureDefaults() {
  return {
    target: 'one' as 'one' | 'series',
    checkpoint: '',
    seriesText: '',
    lastK: 5,
    method: 'cett-ppl' as MeasureMethod,
    pPreset: '1' as '1' | '5' | '10' | 'custom',
    pCustom: '2',
    param: '',
    sweepText: '',
    /**
     * What a sweep varies: nothing (one measurement), p (a p% sweep: one full CETT-PPL-p% search per p, the paper's
     * trade-off), or CETT / the baseline's parameter (fixed values, no search).
     */
    sweepKind: 'none' as 'none' | 'p' | 'param',
    pSweepText: '1, 5, 10',
    data: '',
    tokens: 65536,
    seqLen: 1024,
    batch: 4,
    provider: 'auto' as 'auto' | 'cuda' | 'webgpu' | 'cpu',
    /** GiB the engine may use on the device (empty: what is free); a model that does not fit runs streamed */
    deviceMemory: '',
    tol: '0.001',
    thresholdMode: 'authors' as 'authors' | 'exact',
    bos: false,
    /** the sequence length was lowered to the chosen model's context (shown as "set to N tokens") */
    seqLenLowered: false,
  };
}
type Form = ReturnType<typeof measureDefaults>;

export const useMeasureFormStore = defineStore('measure-form', () => {
  const d = measureDefaults();
  const fields = Object.fromEntries(Object.entries(d).map(([k, v]) => [k, ref(v)])) as { [K in keyof Form]: Ref<Form[K]> };
  /** the values the wizard chose by itself (not typed): the session's choice may replace these */
  const chosen = { checkpoint: '', data: '' };
  function reset(): void {
    const fresh = measureDefaults();
    for (const k of Object.keys(fresh) as (keyof Form)[]) (fields[k] as { value: unknown }).value = fresh[k];
    chosen.checkpoint = '';
    chosen.data = '';
  }
  return { ...fields, chosen, reset };
});
