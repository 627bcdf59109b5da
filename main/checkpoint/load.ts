/**
 * Opening a checkpoint on the calling thread: an HF folder (or any file of one) or an .onnx file becomes a
 * LoadedCheckpoint. The engine opens through open.ts, which runs this in a worker for large checkpoints (issue 19).
 */
import fs from 'node:fs';
import path from 'node:path';
import { LabError } from '../api/errors';
import { loadHfFolder } from './hf';
import { loadOnnx } from './onnx';
import type { TokenizerFacts } from './tokenizer';
import type { Family, LoadedCheckpoint } from './types';

export interface LoadOptions {
  family?: Family;
  /** false: skip the content hash, the one step of opening that reads every weight byte (contentHash is then '') */
  hash?: boolean;
  /** HF folders: true scans every weight for NaN/Inf, false none; default: up to 4 GiB (hf.ts) */
  scanFinite?: boolean;
  /** HF folders: the tokenizer as the worker that opened the folder found it (null: none), loaded here only when used */
  tokenizer?: TokenizerFacts | null;
}

export async function loadCheckpoint(p: string, opts: LoadOptions = {}): Promise<LoadedCheckpoint> {
  const abs = path.resolve(p);
  if (!fs.existsSync(abs)) throw new LabError('NOT_FOUND', `${abs}: no such file or folder`);
  const st = fs.statSync(abs);
  if (st.isDirectory()) return loadHfFolder(abs, opts);
  if (abs.toLowerCase().endsWith('.onnx')) return loadOnnx(abs, opts);
  // a file of a Hugging Face folder (config.json, model.safetensors, pytorch_model.bin, an index) stands for the folder
  const base = path.basename(abs);
  if (/^(config\.json|.*\.safetensors|pytorch_model.*\.bin|.*\.index\.json)$/.test(base) && fs.existsSync(path.join(path.dirname(abs), 'config.json')))
    return loadHfFolder(path.dirname(abs), opts);
  throw new LabError('BAD_CHECKPOINT', `${abs}: not a checkpoint (expected a Hugging Face model folder or an .onnx file)`);
}
