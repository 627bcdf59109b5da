/**
 * The one reader of a checkpoint's place in training: step, tokens trained and model size from its folder name and
 * from the `trainer_state.json` a Hugging Face Trainer writes beside it. The CLI, the engine (series scan) and the
 * UI (load-checkpoint wizard) all use this; tokens trained is the x-axis of the sparsity–data law (paper §4.2).
 *
 * Only what a name says is read; anything else is unknown (undefined), never guessed:
 * - tokens: `tokens-20B`, `tokens20B`, `tokens_1.5T`, `20B-tokens`, `20Btok`, OLMo's `step1000-tokens4B`, a name that
 *   is nothing but a quantity (`20B`, `1.5T`: a folder of a series), or a quantity right after a step
 *   (`step-3000-12.5B`);
 * - step: `checkpoint-500` (HF Trainer), `step500` / `step143000` (Pythia revisions), `step-12000`,
 *   `global_step12000` (DeepSpeed), `iter_0001000` (Megatron), `ckpt-3`;
 * - model size: any other quantity inside a longer name (`minicpm-2.4B-tokens-20B` → 2.4e9, `relu-7b-step-500` →
 *   7e9, `pythia-70m` → 7e7).
 * A step alone gives no tokens: tokens = step × tokens per step, which only the user (or trainer_state.json's
 * `num_input_tokens_seen`) knows. Pure code, no I/O: main reads the files, the renderer shows the result.
 */

export interface NameInfo {
  /** the name with its step/tokens parts removed (may be empty): a series name */
  stem: string;
  step?: number;
  /** tokens trained */
  tokens?: number;
  /** parameters, from a size such as `7b`, `2.4B`, `70m` */
  modelSize?: number;
}

const SUFFIX: Record<string, number> = { k: 1e3, m: 1e6, b: 1e9, g: 1e9, t: 1e12 };
const QTY = /^(\d+(?:\.\d+)?)([kmbgt])$/i;
const STEP_WORD = /^(?:global)?(?:step|ckpt|checkpoint|iter|it)$/i;
const STEP_JOINED = /^(?:global)?(?:step|ckpt|checkpoint|iter|it)(\d+)$/i;
const TOK_WORD = /^tok(?:ens?)?$/i;

const num = (m: RegExpExecArray) => Number(m[1]) * SUFFIX[m[2].toLowerCase()];

/** Step, tokens trained and model size from one folder or file name (see the module comment for the forms). */
export function parseCheckpointName(name: string): NameInfo {
  const parts = name.replace(/\.onnx$/i, '').split(/[-_\s]+/).filter(Boolean);
  const keep: string[] = [];
  const out: NameInfo = { stem: '' };
  let afterStep = false;
  for (let i = 0; i < parts.length; i++) {
    const t = parts[i];
    const next = parts[i + 1] ?? '';
    let m: RegExpExecArray | null;
    const wasAfterStep = afterStep;
    afterStep = false;
    if (TOK_WORD.test(t) && (m = QTY.exec(next))) {
      out.tokens = num(m); // tokens-20B
      i++;
    } else if ((m = /^tokens?(\d+(?:\.\d+)?)([kmbgt])$/i.exec(t)) || (m = /^(\d+(?:\.\d+)?)([kmbgt])tok(?:ens?)?$/i.exec(t))) {
      out.tokens = num(m); // tokens20B, tokens4B (OLMo), 20Btokens
    } else if ((m = QTY.exec(t)) && TOK_WORD.test(next) && !QTY.test(parts[i + 2] ?? '')) {
      out.tokens = num(m); // 20B-tokens (but in 2.4B-tokens-20B the tokens are 20B)
      i++;
    } else if ((m = QTY.exec(t)) && (parts.length === 1 || wasAfterStep) && out.tokens === undefined) {
      out.tokens = num(m); // a bare "20B", or step-3000-12.5B
    } else if ((m = QTY.exec(t))) {
      out.modelSize = num(m); // minicpm-2.4B-…, relu-7b-…
      keep.push(t);
    } else if ((m = STEP_JOINED.exec(t))) {
      out.step = Number(m[1]); // step500, checkpoint500, global_step12000 → "global","step12000"
      afterStep = true;
    } else if (STEP_WORD.test(t) && /^\d+$/.test(next)) {
      out.step = Number(next); // step-12000, checkpoint-500, iter_0001000
      afterStep = true;
      i++;
    } else if (/^global$/i.test(t) && /^step\d*$/i.test(next)) {
      continue; // "global" of global_step
    } else keep.push(t);
  }
  out.stem = keep.join('-');
  if (out.step === undefined) delete out.step;
  if (out.tokens === undefined) delete out.tokens;
  if (out.modelSize === undefined) delete out.modelSize;
  return out;
}

/**
 * What a Hugging Face Trainer's `trainer_state.json` says: `global_step`, and tokens when it counted them
 * (`num_input_tokens_seen`, top level or the last log entry that has it). Anything malformed is unknown.
 */
export function readTrainerState(json: unknown): { step?: number; tokens?: number } {
  const out: { step?: number; tokens?: number } = {};
  if (!json || typeof json !== 'object') return out;
  const o = json as Record<string, unknown>;
  const ok = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  if (ok(o.global_step)) out.step = o.global_step;
  if (ok(o.num_input_tokens_seen) && o.num_input_tokens_seen > 0) out.tokens = o.num_input_tokens_seen;
  else if (Array.isArray(o.log_history))
    for (const e of o.log_history as unknown[]) {
      const v = e && typeof e === 'object' ? (e as Record<string, unknown>).num_input_tokens_seen : undefined;
      if (ok(v) && v > 0) out.tokens = v;
    }
  return out;
}

export interface TrainingPosition extends NameInfo {
  /** where tokens came from; absent when tokens are unknown */
  tokensFrom?: 'name' | 'trainer_state.json' | 'step × tokens per step';
}

/**
 * A checkpoint's place in training from its name, its trainer_state.json (already parsed) and a tokens-per-step the
 * user gave. Tokens: the name's, else trainer_state's count, else step × tokensPerStep; otherwise unknown.
 */
export function trainingPosition(name: string, o: { trainerState?: unknown; tokensPerStep?: number } = {}): TrainingPosition {
  const n: TrainingPosition = parseCheckpointName(name);
  const ts = readTrainerState(o.trainerState);
  if (n.step === undefined && ts.step !== undefined) n.step = ts.step;
  if (n.tokens !== undefined) n.tokensFrom = 'name';
  else if (ts.tokens !== undefined) {
    n.tokens = ts.tokens;
    n.tokensFrom = 'trainer_state.json';
  } else if (n.step !== undefined && o.tokensPerStep !== undefined && Number.isFinite(o.tokensPerStep) && o.tokensPerStep > 0) {
    n.tokens = n.step * o.tokensPerStep;
    n.tokensFrom = 'step × tokens per step';
  }
  return n;
}

/** Tokens as a person types them: "20B", "1.5e9", "300M", "12000"; undefined when unreadable. */
export function parseTokens(s: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([kmbgt])?\s*$/i.exec(s);
  if (!m) return undefined;
  const v = Number(m[1]) * (m[2] ? SUFFIX[m[2].toLowerCase()] : 1);
  return Number.isFinite(v) && v >= 0 ? v : undefined;
}

/** Tokens for display: "20B", "1.5T", "unknown" when not known. */
export function formatTokens(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return 'unknown';
  for (const [u, f] of [['T', 1e12], ['B', 1e9], ['M', 1e6], ['K', 1e3]] as const)
    if (v >= f) return `${Number((v / f).toPrecision(4))}${u}`;
  return String(v);
}

export function baseName(p: string): string {
  const parts = p.replace(/[\\/]+$/, '').split(/[\\/]/);
  return parts[parts.length - 1] ?? '';
}
export function parentName(p: string): string {
  const parts = p.replace(/[\\/]+$/, '').split(/[\\/]/);
  return parts[parts.length - 2] ?? '';
}

/** Series name for one checkpoint path: its own name without step/tokens, else the parent folder's. */
export function guessSeries(p: string): string {
  const own = parseCheckpointName(baseName(p));
  return own.stem || parseCheckpointName(parentName(p)).stem || parentName(p) || baseName(p);
}

/**
 * The series of a checkpoint added on its own (not from a series folder): guessSeries only when its name says where in
 * training it is (a step or tokens: `relu-0.1b/step-12000`, `minicpm-2.4B-tokens-20B`); else none. A lone model
 * (`tiny-relu`, `pythia-70m`) is a single model, not a training series of one point in the filters, the runs table and
 * the laws.
 */
export function loneSeries(p: string): string {
  const own = parseCheckpointName(baseName(p));
  return own.step !== undefined || own.tokens !== undefined ? guessSeries(p) : '';
}

/** Whether a checkpoint's own name says nothing of which model it is: a bare step or tokens, or a generic file name. */
function namesNoModel(name: string): boolean {
  const stem = parseCheckpointName(name).stem;
  return !stem || /^\d+$/.test(stem) || /^model$/i.test(stem);
}

/**
 * Short names that tell checkpoint paths apart (the runs table's Checkpoint column): each path's shortest tail of
 * names that no other listed path ends with, so `…/model-A/003000` and `…/model-B/003000` are `model-A/003000` and
 * `model-B/003000`, and a lone `…/relu-0.1b` is `relu-0.1b`. A tail is at least two names when the last one says
 * nothing of the model (`003000`, `checkpoint-500`, `20B`, `model.onnx`). Equal paths get equal names; a path that is
 * the whole tail of another keeps all its names. Names are joined with '/' whatever the separator was.
 */
export function distinctNames(paths: readonly string[]): Map<string, string> {
  const split = new Map<string, string[]>();
  for (const p of paths) if (!split.has(p)) split.set(p, p.split(/[\\/]+/).filter(Boolean));
  const tail = (s: string[], k: number) => s.slice(Math.max(0, s.length - k)).join('/');
  // how many distinct paths end with each tail of k names (a path shorter than k counts under its whole self, which
  // no k-name tail equals)
  const counts: Map<string, number>[] = [];
  const countsAt = (k: number) => {
    if (!counts[k]) {
      const m = new Map<string, number>();
      for (const s of new Set([...split.values()].map((x) => x.join('/')))) {
        const t = tail(s.split('/'), k);
        m.set(t, (m.get(t) ?? 0) + 1);
      }
      counts[k] = m;
    }
    return counts[k];
  };
  const out = new Map<string, string>();
  for (const [p, s] of split) {
    let k = Math.min(s.length, s.length && namesNoModel(s[s.length - 1]) ? 2 : 1);
    while (k < s.length && (countsAt(k).get(tail(s, k)) ?? 0) > 1) k++;
    out.set(p, tail(s, k) || p);
  }
  return out;
}
