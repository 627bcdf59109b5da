/**
 * Colour-blind-safe colours. Series: Okabe & Ito (2008), "Color Universal Design", ordered so the first
 * colours stay distinct in greyscale print too (yellow last: weak on white). Heatmaps: viridis
 * (perceptually uniform, colour-blind safe), 9 stops from matplotlib's table, linearly interpolated.
 */
export const OKABE_ITO = ['#0072B2', '#D55E00', '#009E73', '#E69F00', '#CC79A7', '#56B4E9', '#000000', '#F0E442'];

/** A marker per series, so series stay apart in black-and-white print. */
export const POINT_STYLES = ['circle', 'rect', 'triangle', 'rectRot', 'crossRot', 'star', 'rectRounded', 'cross'];

export const seriesColor = (group: number) => OKABE_ITO[group % OKABE_ITO.length];
export const seriesMarker = (group: number) => POINT_STYLES[group % POINT_STYLES.length];

export function withAlpha(hex: string, alpha: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
}

const VIRIDIS = ['#440154', '#472d7b', '#3b528b', '#2c728e', '#21918c', '#28ae80', '#5ec962', '#addc30', '#fde725'];

/** viridis at t ∈ [0, 1] as '#rrggbb' */
export function viridis(t: number): string {
  const u = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(u), VIRIDIS.length - 2);
  const f = u - i;
  const a = parseInt(VIRIDIS[i].slice(1), 16);
  const b = parseInt(VIRIDIS[i + 1].slice(1), 16);
  const ch = (s: number) => Math.round(((a >> s) & 255) * (1 - f) + ((b >> s) & 255) * f);
  return `#${((ch(16) << 16) | (ch(8) << 8) | ch(0)).toString(16).padStart(6, '0')}`;
}
