/**
 * Execution providers: which ones actually initialise here. We do not trust a list of compiled-in
 * backends; we create a tiny session on each and run it once, and report why one failed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { execFile } from 'node:child_process';
import * as ort from 'onnxruntime-node';
import { DT, GraphBuilder } from '../graph/onnx-builder';
import type { ProviderStatus } from '../api/domains/engine';
import { shortProviderReason } from './provider-reason';

// fp32 on CUDA means fp32: onnxruntime's CUDA provider lets cuBLAS use TF32 tensor cores for fp32 GEMMs by default
// (its `use_tf32` option, which onnxruntime-node does not expose), which rounded inputs to 10 mantissa bits and moved
// per-token NLL by up to 4e-3 on the H200 (BENCHMARKS.md, issue 3's cross-check). cuBLAS reads this variable when it
// initialises, before any CUDA session exists; it leaves fp16 GEMMs alone. A user's own setting wins.
process.env.NVIDIA_TF32_OVERRIDE ??= '0';

export type ProviderName = ProviderStatus['name'];
export const PROVIDER_ORDER: ProviderName[] = ['cuda', 'webgpu', 'cpu'];

let probeModel: Uint8Array | undefined;
function tinyModel(): Uint8Array {
  if (!probeModel) {
    const g = new GraphBuilder('probe');
    const x = g.input('x', DT.FLOAT, [2]);
    const w = g.f32('w', [1, 2]);
    const y = g.op('Add', [x, w], {}, 'y');
    g.output(y, DT.FLOAT, [2]);
    probeModel = g.build();
  }
  return probeModel;
}

/** The CUDA provider is a separate shared library next to onnxruntime's binding; without it ORT only logs an error. */
function cudaLibraryMissing(): string | undefined {
  if (process.platform === 'darwin') return 'CUDA does not exist on macOS';
  try {
    const pkg = path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
    const dir = path.join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
    const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
    if (!fs.existsSync(path.join(dir, lib))) return `the CUDA provider library (${lib}) is not installed next to onnxruntime in ${dir}; onnxruntime-node downloads it at install time unless ONNXRUNTIME_NODE_INSTALL=skip`;
  } catch {
    return undefined; // cannot tell: let onnxruntime try
  }
  return undefined;
}

/** The probe itself: run in this process for the CPU, in a child process for the others (see probeInChild). */
const PROBE_SCRIPT = `
const ort = require(process.argv[1]);
const name = process.argv[2];
const model = Buffer.from(process.argv[3], 'base64');
(async () => {
  const t0 = performance.now();
  try {
    const session = await ort.InferenceSession.create(model, {
      executionProviders: [name],
      extra: { session: { disable_cpu_ep_fallback: name === 'cpu' ? '0' : '1' } },
      logSeverityLevel: 3,
    });
    try {
      const out = await session.run({ x: new ort.Tensor('float32', new Float32Array([1, 1]), [2]) });
      const y = out.y.data;
      if (y[0] !== 2 || y[1] !== 3) throw new Error('wrong result from a trivial Add: ' + Array.from(y));
    } finally { await session.release(); }
    process.stdout.write(JSON.stringify({ ok: true, ms: performance.now() - t0 }));
  } catch (err) {
    process.stdout.write(JSON.stringify({ ok: false, error: err instanceof Error ? err.message : String(err) }));
  }
})();
`;

interface ProbeOutcome { ok: boolean; ms?: number; error?: string; stderr: string }

/**
 * GPU providers load native libraries (Dawn, the CUDA runtime) that print warnings straight to the process's stderr
 * from C++ ("Warning: Couldn't load Vulkan … at operator() …"), on every command. Probing them in a short-lived child
 * process keeps that text out of the user's terminal; it is kept as the failure's details instead.
 */
function probeInChild(name: ProviderName): Promise<ProbeOutcome> {
  let ortPath: string;
  try {
    ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
  } catch {
    return probeInProcess(name); // a bundle that cannot name onnxruntime's path: probe here, warnings and all
  }
  const args = ['-e', PROBE_SCRIPT, ortPath, name, Buffer.from(tinyModel()).toString('base64')];
  return new Promise((resolve) => {
    execFile(process.execPath, args, { env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' }, timeout: 60_000, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      try {
        const r = JSON.parse(last) as { ok: boolean; ms?: number; error?: string };
        resolve({ ...r, stderr });
      } catch {
        const why = err ? (err.killed ? 'the probe process timed out' : `the probe process failed (${err.signal ?? `exit ${err.code}`})`) : 'the probe process printed no result';
        resolve({ ok: false, error: why, stderr });
      }
    });
  });
}

async function probeInProcess(name: ProviderName): Promise<ProbeOutcome> {
  const t0 = performance.now();
  try {
    const session = await ort.InferenceSession.create(tinyModel(), {
      executionProviders: [name],
      // Without this ORT silently falls back to CPU for the nodes a provider cannot take.
      extra: { session: { disable_cpu_ep_fallback: name === 'cpu' ? '0' : '1' } },
      logSeverityLevel: 3,
    });
    try {
      const out = await session.run({ x: new ort.Tensor('float32', new Float32Array([1, 1]), [2]) });
      const y = out.y.data as Float32Array;
      if (y[0] !== 2 || y[1] !== 3) throw new Error(`wrong result from a trivial Add: ${Array.from(y)}`);
    } finally {
      await session.release();
    }
    return { ok: true, ms: performance.now() - t0, stderr: '' };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err), stderr: '' };
  }
}

async function probe(name: ProviderName): Promise<ProviderStatus> {
  if (name === 'cuda') {
    const missing = cudaLibraryMissing();
    if (missing) return { name, available: false, reason: missing };
  }
  const r = name === 'cpu' ? await probeInProcess(name) : await probeInChild(name);
  if (r.ok) return { name, available: true, initMs: Math.round((r.ms ?? 0) * 10) / 10 };
  const raw = r.error ?? 'unknown error';
  const details = [raw.trim(), r.stderr.trim()].filter(Boolean).join('\n').slice(0, 4000);
  return { name, available: false, reason: shortProviderReason(name, raw, r.stderr), details };
}

let cached: Promise<ProviderStatus[]> | undefined;
/** Probes every provider once per process (cuda, webgpu, cpu); `refresh` probes again. */
export function probeProviders(refresh = false): Promise<ProviderStatus[]> {
  if (!cached || refresh) {
    cached = (async () => {
      const out: ProviderStatus[] = [];
      for (const p of PROVIDER_ORDER) out.push(await probe(p));
      return out;
    })();
  }
  return cached;
}

export const onnxruntimeVersion: string = ort.env.versions?.node ?? ort.env.versions?.common ?? 'unknown';
