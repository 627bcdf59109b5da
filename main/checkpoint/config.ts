/**
 * config.json → ModelSpec fields. transformers 4.x and 5.x spell some keys differently (5.x moves rope
 * settings into `rope_parameters`, and multimodal configs nest a `text_config`); both are read.
 * Every number is checked: a missing or absurd field is an error that names config.json and the field.
 */
import { LabError } from '../api/errors';
import type { ActivationName, RopeScaling } from './types';

export type RawConfig = Record<string, unknown>;

export class ConfigReader {
  constructor(
    readonly raw: RawConfig,
    readonly file: string,
  ) {}

  private fail(field: string, problem: string): never {
    throw new LabError('BAD_CHECKPOINT', `${this.file}: field '${field}' ${problem}`);
  }

  has(...keys: string[]): boolean {
    return keys.some((k) => this.raw[k] !== undefined && this.raw[k] !== null);
  }

  /** The first of `keys` present: [key, raw value]; absent, the default (a number), or an error naming the first key. */
  private number(keys: string | string[], def: number | undefined): [string, unknown] | number {
    const ks = Array.isArray(keys) ? keys : [keys];
    const k = ks.find((x) => this.raw[x] !== undefined && this.raw[x] !== null);
    if (k !== undefined) return [k, this.raw[k]];
    if (def !== undefined) return def;
    this.fail(ks[0], 'is missing');
  }

  /** A positive integer within [min, max]; `keys` are alternative spellings, first present wins. */
  int(keys: string | string[], opts: { min?: number; max?: number; default?: number } = {}): number {
    const found = this.number(keys, opts.default);
    if (typeof found === 'number') return found;
    const [k, v] = found;
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(k, `must be an integer, got ${JSON.stringify(v)}`);
    const min = opts.min ?? 1;
    const max = opts.max ?? 1e9;
    if (v < min || v > max) this.fail(k, `is ${v}, outside the plausible range [${min}, ${max}]`);
    return v;
  }

  num(keys: string | string[], opts: { min?: number; max?: number; default?: number } = {}): number {
    const found = this.number(keys, opts.default);
    if (typeof found === 'number') return found;
    const [k, v] = found;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(k, `must be a finite number, got ${JSON.stringify(v)}`);
    if (opts.min !== undefined && v < opts.min) this.fail(k, `is ${v}, below ${opts.min}`);
    if (opts.max !== undefined && v > opts.max) this.fail(k, `is ${v}, above ${opts.max}`);
    return v;
  }

  str(key: string, def?: string): string {
    const v = this.raw[key];
    if (v === undefined || v === null) {
      if (def !== undefined) return def;
      this.fail(key, 'is missing');
    }
    if (typeof v !== 'string') this.fail(key, `must be a string, got ${JSON.stringify(v)}`);
    return v;
  }

  bool(key: string, def: boolean): boolean {
    const v = this.raw[key];
    if (v === undefined || v === null) return def;
    if (typeof v !== 'boolean') this.fail(key, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  optInt(key: string): number | undefined {
    const v = this.raw[key];
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
    if (Array.isArray(v) && typeof v[0] === 'number') return v[0]; // some configs list several EOS ids
    return undefined;
  }

  activation(key = 'hidden_act'): { activation: ActivationName; param?: number } {
    const raw = this.str(key, 'silu').toLowerCase();
    const map: Record<string, ActivationName> = {
      relu: 'relu',
      silu: 'silu',
      swish: 'silu',
      gelu: 'gelu',
      gelu_new: 'gelu_tanh',
      gelu_fast: 'gelu_tanh',
      gelu_pytorch_tanh: 'gelu_tanh',
      gelu_tanh: 'gelu_tanh',
      relu2: 'relu2',
      relu_squared: 'relu2',
      fatrelu: 'fatrelu',
    };
    const a = map[raw];
    if (!a) this.fail(key, `is '${raw}', not an activation this app knows (${Object.keys(map).join(', ')})`);
    if (a === 'fatrelu') return { activation: a, param: this.num('hidden_act_param', { min: 0, max: 1e6 }) };
    return { activation: a };
  }

  /** rope_theta and rope_scaling in the 4.x layout or the 5.x `rope_parameters` layout. */
  rope(defaultTheta = 10000, thetaKeys = ['rope_theta']): { theta: number; scaling?: RopeScaling } {
    // a rope_scaling that is not an object was ignored: the model ran unscaled (other numbers, no word said)
    for (const key of ['rope_parameters', 'rope_scaling'])
      if (this.raw[key] != null && (typeof this.raw[key] !== 'object' || Array.isArray(this.raw[key]))) this.fail(key, `must be an object or null, got ${JSON.stringify(this.raw[key])}`);
    const params = this.raw.rope_parameters as Record<string, unknown> | undefined;
    if (params && params.rope_theta !== undefined && !(typeof params.rope_theta === 'number' && Number.isFinite(params.rope_theta)))
      this.fail('rope_parameters.rope_theta', `must be a finite number, got ${JSON.stringify(params.rope_theta)}`); // was taken as the default 10000
    const theta =
      params && typeof params.rope_theta === 'number' ? params.rope_theta : this.num(thetaKeys, { min: 1, max: 1e12, default: defaultTheta });
    if (!(theta > 0) || !Number.isFinite(theta)) this.fail('rope_theta', `is ${theta}`);
    const sc = (this.raw.rope_scaling as Record<string, unknown> | null | undefined) ?? params;
    if (!sc || typeof sc !== 'object') return { theta };
    const type = String(sc.rope_type ?? sc.type ?? 'default');
    if (type === 'default') return { theta };
    if (!['linear', 'dynamic', 'llama3', 'yarn'].includes(type)) this.fail('rope_scaling', `type '${type}' is not supported (linear, dynamic, llama3, yarn)`);
    const factor = Number(sc.factor);
    if (!(factor >= 1) || !Number.isFinite(factor)) this.fail('rope_scaling.factor', `is ${String(sc.factor)}`);
    return { theta, scaling: { ...sc, type: type as RopeScaling['type'], factor } };
  }
}
