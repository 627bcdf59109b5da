/**
 * The adapter registry (Netron-style: one module per family, a small registry picks). A config is matched
 * by model_type; an unknown model_type whose config fields and tensor names are LLaMA-shaped is loaded as
 * llama with a notice (custom types such as `sparsellama`), and the user can force a family.
 */
import { LabError } from '../../api/errors';
import type { Family } from '../types';
import type { Adapter } from './types';
import { llamaAdapter, minicpmAdapter, mistralAdapter, qwen2Adapter, qwen3Adapter } from './llama';
import { optAdapter } from './opt';
import { gpt2Adapter } from './gpt2';
import { gptNeoxAdapter } from './gpt-neox';

export const ADAPTERS: Adapter[] = [llamaAdapter, mistralAdapter, qwen2Adapter, qwen3Adapter, minicpmAdapter, optAdapter, gpt2Adapter, gptNeoxAdapter];

export const SUPPORTED_FAMILIES: Family[] = ADAPTERS.map((a) => a.family);

export function pickAdapter(
  modelType: string,
  configFile: string,
  tensorNames: string[],
  hasLlamaFields: boolean,
  forced?: Family,
): { adapter: Adapter; notice?: string } {
  if (forced) {
    const a = ADAPTERS.find((x) => x.family === forced);
    if (!a) throw new LabError('UNSUPPORTED', `--family ${forced}: not a family this build can load (${SUPPORTED_FAMILIES.join(', ')})`);
    return { adapter: a, notice: modelType === forced ? undefined : `model_type '${modelType}' loaded as '${forced}' because the family was forced` };
  }
  const exact = ADAPTERS.find((a) => a.modelTypes.includes(modelType));
  if (exact) return { adapter: exact, notice: exact.family === modelType ? undefined : `model_type '${modelType}' is loaded as '${exact.family}'` };
  const llamaTensors = tensorNames.some((n) => /layers\.\d+\.mlp\.(gate|up|down)_proj\.weight$/.test(n)) && tensorNames.some((n) => /self_attn\.q_proj\.weight$/.test(n));
  if (hasLlamaFields && llamaTensors)
    return { adapter: llamaAdapter, notice: `model_type '${modelType}' is not known; its config fields and tensor names are LLaMA-shaped, so it is loaded as 'llama' (use --family to choose another)` };
  throw new LabError(
    'UNSUPPORTED',
    `${configFile}: model_type '${modelType}' is not supported. Supported families: ${SUPPORTED_FAMILIES.join(', ')} (and LLaMA-shaped custom types). Use --family to force one.`,
  );
}
