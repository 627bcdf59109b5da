/**
 * Pre-fills series name and tokens trained from checkpoint folder names (issue 7): `tokens-20B`, `20B`,
 * `1.5T` give tokens; `step-12000`, `global_step12000`, `checkpoint-500`, `iter_0001000` give a step
 * (tokens = step × tokens per step, which only the user knows). Names only: nothing is guessed that the
 * name does not say.
 */
export interface ParsedName {
  /** name with the step/tokens part removed (may be empty) */
  stem: string;
  tokens?: number;
  step?: number;
}

const SUFFIX: Record<string, number> = { k: 1e3, m: 1e6, b: 1e9, g: 1e9, t: 1e12 };

export function baseName(p: string): string {
  const parts = p.replace(/[\\/]+$/, '').split(/[\\/]/);
  return parts[parts.length - 1] ?? '';
}
export function parentName(p: string): string {
  const parts = p.replace(/[\\/]+$/, '').split(/[\\/]/);
  return parts[parts.length - 2] ?? '';
}

export function parseName(name: string): ParsedName {
  const parts = name.replace(/\.onnx$/i, '').split(/[-_\s]+/).filter(Boolean);
  const keep: string[] = [];
  let tokens: number | undefined;
  let step: number | undefined;
  const qty = /^(\d+(?:\.\d+)?)([kmbgt])$/i;
  const toNum = (m: RegExpExecArray) => Number(m[1]) * SUFFIX[m[2].toLowerCase()];
  for (let i = 0; i < parts.length; i++) {
    const t = parts[i];
    const next = parts[i + 1] ?? '';
    let m: RegExpExecArray | null;
    if (/^tokens?$/i.test(t) && (m = qty.exec(next))) {
      tokens = toNum(m); // tokens-20B
      i++;
    } else if ((m = /^tokens?(\d+(?:\.\d+)?)([kmbgt])$/i.exec(t)) || (m = /^(\d+(?:\.\d+)?)([kmbgt])tok(?:ens?)?$/i.exec(t))) {
      tokens = toNum(m); // tokens20B, 20Btokens
    } else if ((m = qty.exec(t)) && /^tok(ens?)?$/i.test(next) && !qty.test(parts[i + 2] ?? '')) {
      tokens = toNum(m); // 20B-tokens
      i++;
    } else if ((m = qty.exec(t)) && parts.length === 1) {
      tokens = toNum(m); // a bare "20B" is tokens; inside a longer name it is the model size
    } else if ((m = /^(?:global)?(?:step|ckpt|checkpoint|iter|it)(\d+)$/i.exec(t))) {
      step = Number(m[1]); // global_step12000 → "global","step12000"; step12000
    } else if (/^(?:step|ckpt|checkpoint|iter|it)$/i.test(t) && /^\d+$/.test(next)) {
      step = Number(next); // step-12000
      i++;
    } else if (/^global$/i.test(t) && /^step\d*$/i.test(next)) {
      continue; // "global" of global_step
    } else keep.push(t);
  }
  const stem = keep.join('-');
  return { stem, tokens, step };
}

/** Series name for one checkpoint path: its own name without step/tokens, else the parent folder's. */
export function guessSeries(p: string): string {
  const own = parseName(baseName(p));
  return own.stem || parseName(parentName(p)).stem || parentName(p) || baseName(p);
}

/** Tokens as the user types them: "20B", "1.5e9", "300M", "12000". undefined when unreadable. */
export function parseTokens(s: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([kmbgt])?\s*$/i.exec(s);
  if (!m) return undefined;
  const v = Number(m[1]) * (m[2] ? SUFFIX[m[2].toLowerCase()] : 1);
  return Number.isFinite(v) && v >= 0 ? v : undefined;
}
