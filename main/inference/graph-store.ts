/**
 * Sessions of the graphs built over one checkpoint's weights (issue 15). Every graph points at the checkpoint's own
 * bytes (ONNX external data: location, offset, length into its safetensors or .bin files) wherever planWeights
 * (main/graph/weights.ts) allows; what must be converted (bf16 or fp32 for an fp16 GPU graph, the fp32 output
 * projection of a 16-bit checkpoint on the CPU, tensors not stored contiguously) is written once per checkpoint and
 * graph dtype into the graph cache and shared by all its graphs. Graph protobufs are cached too; they are small.
 *
 * onnxruntime (1.29) resolves external-data locations against one folder and refuses any whose real path (symlinks
 * resolved) leaves it ("External data path escapes model directory"). Graphs are therefore loaded from their bytes
 * with that folder set (session config model_external_initializers_file_folder_path) to the deepest folder holding
 * both the checkpoint's files and the cache, and every location is relative to it. Where no folder holds both (two
 * drives on Windows), everything is converted instead, and the plan says so.
 *
 * `session(key, build, options)` is the one way to open such a graph: createRunner uses it for its mask-mode and
 * search graphs, and any other graph over the same weights (per-block graphs) can use it the same way.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { LoadedCheckpoint, StoredBytes } from '../checkpoint/types';
import type { DiskFacts } from '../api/domains/checkpoints';
import type { ExternalTarget, GraphDType } from '../graph/llama-graph';
import { commonFolder, relativeInside } from '../graph/onnx-builder';
import { buildGraph, convertedByBuild, type GraphRecipe } from '../graph/recipe';
import { planWeights, writeConverted, type WeightPlan } from '../graph/weights';
import { GraphCache, type CacheLease } from './graph-cache';
import { canBuildOffThread, runGraphJob } from './graph-off-thread';
import { LabError } from '../api/errors';
import type { SessionTiming } from './runner-types';

/** Bump when the converted-weights layout changes (entries of an older layout are then never used). */
const WEIGHTS_VERSION = 1;
/**
 * Without a cache folder, converted weights above this size go to a temporary folder instead of into the graph: inside
 * the protobuf they would exist three times at once (the JS bytes, onnxruntime's parsed copy, its packed copy); from a
 * file onnxruntime maps them. Measured (bench compile, 0.1B fp16, the fp32 output projection converted: 98 MB): peak
 * 2.47× the weights inline, the same as warm from a file.
 */
const INLINE_LIMIT = 16 * 1024 ** 2;
/**
 * A weight conversion or graph build that converts this many bytes of checkpoint tensors or more runs in the graph
 * worker (graph-off-thread.ts), smaller ones here. Measured on the 2-core dev machine (2026-12-04): converting costs
 * ≈ 7.5 ms per MiB (writeConverted, fp32 → fp16 of a 202 MiB plan: 1.5 s), a graph whose weights are all in place
 * ≈ 1 ms per layer (7B: ≈ 0.1 s; 400 layers 0.35 s); a tiny graph job in the worker (start, open the folder, build,
 * send back) ≈ 0.1 s bundled and ≈ 0.36 s from the sources (tsx), against 15 ms here. Below 16 MiB a build here
 * takes ≈ 0.1 s or less, what the worker's start alone costs, and stays here; above it the engine's thread would wait
 * seconds to minutes (a 7B's bf16 → fp16 copies: 13 GB).
 */
export const GRAPH_OFF_THREAD_BYTES = 16 * 1024 ** 2;

export interface GraphStoreOptions {
  dtype: GraphDType;
  /** fp32 graphs keep 16-bit stored matrices 16-bit (GraphOptions.halfWeights) */
  halfWeights: boolean;
  /** where graphs and converted weights are kept between runs (none: in memory or a temporary folder) */
  cache?: GraphCache;
  /** part of every graph key: bump when the graph builder changes */
  version: number;
  /** the job's cancel: no graph is built after it, a build in the worker stops, and a session whose creation ends after it is released at once */
  signal?: AbortSignal;
  /** 'auto' (default): conversions and builds of GRAPH_OFF_THREAD_BYTES or more in the graph worker; 'always' / 'never' force it */
  offThread?: 'auto' | 'always' | 'never';
}

/**
 * How every session of a built graph is created. `create` is a seam for tests only (they slow it down to cancel a run
 * in the middle of session creation); the product never replaces it.
 */
export const sessionFactory = {
  create: (bytes: Uint8Array, so: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> => ort.InferenceSession.create(bytes, so),
};

const cancelled = () => new LabError('CANCELLED', 'the measurement was cancelled');

/** where a session of built graph bytes is created (default: sessionFactory.create on this thread; a streamed run's block host, block-host.ts) */
export type SessionCreator<S> = (bytes: Uint8Array, so: ort.InferenceSession.SessionOptions) => Promise<S>;

/**
 * A session of `bytes`, or CANCELLED when `signal` fired before or during its creation: onnxruntime cannot stop a
 * creation in progress, so a session that arrives after the cancel is released right away (nothing of it is kept).
 */
export async function createSession<S extends { release(): Promise<void> } = ort.InferenceSession>(
  bytes: Uint8Array,
  so: ort.InferenceSession.SessionOptions,
  signal?: AbortSignal,
  create: SessionCreator<S> = sessionFactory.create as unknown as SessionCreator<S>,
): Promise<S> {
  if (signal?.aborted) throw cancelled();
  const sess = await create(bytes, so);
  if (signal?.aborted) {
    await sess.release().catch(() => undefined);
    throw cancelled();
  }
  return sess;
}

/** `so` reading external data relative to `base` (graphs loaded from bytes). */
export function withDataFolder(so: ort.InferenceSession.SessionOptions, base: string | undefined): ort.InferenceSession.SessionOptions {
  if (base === undefined) return so;
  const extra = (so.extra ?? {}) as Record<string, Record<string, unknown>>;
  return { ...so, extra: { ...extra, session: { ...(extra.session ?? {}), model_external_initializers_file_folder_path: base } } };
}

export class GraphStore {
  /** what every graph of this store does with each checkpoint tensor */
  readonly plan: WeightPlan;
  /** the folder external-data locations are relative to (undefined: graphs are self-contained) */
  readonly base: string | undefined;
  private cache?: GraphCache;
  private tmp?: string;
  private leases: CacheLease[] = [];
  private converted?: Promise<Map<string, StoredBytes> | undefined>;
  /** whether the plan may point at the checkpoint's own bytes (planWeights refs) */
  private refs: boolean;
  private files: string[];
  /** every session this store opened: build and creation times (bench and the run's record) */
  readonly timings: SessionTiming[] = [];

  constructor(
    private ckpt: LoadedCheckpoint,
    private o: GraphStoreOptions,
  ) {
    const wanted = planWeights(ckpt, o);
    this.files = [...new Set([...wanted.tensors.values()].flatMap((p) => (p.place ? [fs.realpathSync(p.place.file)] : [])))].sort();
    this.cache = ckpt.contentHash ? o.cache : undefined; // nothing is cached under an unknown content
    if (!this.cache && wanted.convertedBytes >= INLINE_LIMIT) {
      this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-graph-'));
      this.cache = new GraphCache(this.tmp, Infinity);
    }
    if (this.cache) fs.mkdirSync(this.cache.dir, { recursive: true });
    const dirs = [...new Set(this.files.map((f) => path.dirname(f)))];
    if (this.cache) dirs.push(this.cache.dir);
    this.base = commonFolder(dirs);
    this.refs = this.base !== undefined || !this.files.length;
    this.plan = this.refs ? wanted : planWeights(ckpt, o, false);
  }

  /** whether work converting `bytes` of tensors goes to the graph worker */
  private offThread(bytes: number): boolean {
    const mode = this.o.offThread ?? 'auto';
    if (mode === 'never' || !canBuildOffThread(this.ckpt)) return false;
    return mode === 'always' || bytes >= GRAPH_OFF_THREAD_BYTES;
  }

  /**
   * The converted copies written into the cache for graphs planned with `o` (this store's own dtype and halfWeights;
   * undefined for another plan, or where nothing is written: no cache, nothing to convert): what the blocks fed their
   * weights as inputs read for the tensors the checkpoint does not hold in the graph's dtype and layout
   * (block-weights.ts), the very bytes the initializers would point at, instead of converting them on every page.
   */
  convertedFor(o: { dtype: GraphDType; halfWeights: boolean }): Promise<Map<string, StoredBytes> | undefined> {
    if (o.dtype !== this.o.dtype || o.halfWeights !== this.o.halfWeights) return Promise.resolve(undefined);
    return this.prepareConverted();
  }

  /** The converted weights, written once into the cache (shared by every graph of this checkpoint and dtype). */
  private prepareConverted(): Promise<Map<string, StoredBytes> | undefined> {
    this.converted ??= this.writeConvertedOnce();
    this.converted.catch(() => (this.converted = undefined)); // a failed or cancelled conversion is tried again next time
    return this.converted;
  }

  private async writeConvertedOnce(): Promise<Map<string, StoredBytes> | undefined> {
    if (!this.cache || this.plan.convertedBytes === 0) return undefined;
    const key = GraphCache.key({ weights: this.ckpt.contentHash, dtype: this.o.dtype, halfWeights: this.o.halfWeights, v: WEIGHTS_VERSION });
    const index = (at: Map<string, StoredBytes>) => JSON.stringify(Object.fromEntries([...at].map(([name, b]) => [name, { offset: b.offset, length: b.length, dtype: b.dtype }])));
    const lease = this.offThread(this.plan.convertedBytes)
      ? await this.cache.openAsync(key, this.plan.convertedBytes, async (dir) => {
          const job = { op: 'convert' as const, dtype: this.o.dtype, halfWeights: this.o.halfWeights, refs: this.refs, file: path.join(dir, 'weights.data') };
          const { converted } = await runGraphJob(this.ckpt, job, this.o.signal);
          fs.writeFileSync(path.join(dir, 'weights.json'), index(converted!));
        })
      : this.cache.open(key, this.plan.convertedBytes, (dir) => {
          fs.writeFileSync(path.join(dir, 'weights.json'), index(writeConverted(this.ckpt, this.plan, path.join(dir, 'weights.data'))));
        });
    this.leases.push(lease);
    const file = path.join(lease.dir, 'weights.data');
    const stored = JSON.parse(fs.readFileSync(path.join(lease.dir, 'weights.json'), 'utf8')) as Record<string, Omit<StoredBytes, 'file' | 'transposed'>>;
    return new Map(Object.entries(stored).map(([name, b]) => [name, { ...b, file, transposed: false }]));
  }

  /** The bytes of `recipe`'s graph built with `ext`: here, or in the graph worker when the build converts much (offThread). */
  private async build(recipe: GraphRecipe, ext: ExternalTarget | undefined): Promise<Uint8Array> {
    if (this.o.signal?.aborted) throw cancelled();
    if (!this.offThread(convertedByBuild(this.ckpt, recipe, ext))) return buildGraph(this.ckpt, recipe, ext);
    return (await runGraphJob(this.ckpt, { op: 'graph', recipe, external: ext }, this.o.signal)).graph!;
  }

  /**
   * The serialised graph of `recipe` (cached under `key`, which must name everything the graph depends on besides the
   * checkpoint and the store's dtype), with the folder its external-data locations are relative to. A graph from the
   * cache stays held (leased) until dispose().
   */
  async graph(key: Record<string, unknown>, recipe: GraphRecipe): Promise<{ bytes: Uint8Array; base: string | undefined; buildMs: number; lease?: CacheLease }> {
    const cache = this.cache;
    if (!cache || this.base === undefined) {
      // in memory: in-place tensors by reference (when a folder holds them), the rest inside the graph
      const t0 = performance.now();
      const bytes = await this.build(recipe, this.base === undefined ? undefined : { base: this.base });
      return { bytes, base: this.base, buildMs: performance.now() - t0 };
    }
    const base = this.base;
    const gkey = this.graphKey(key);
    if (this.o.signal?.aborted) throw cancelled();
    const converted = await this.prepareConverted();
    const t0 = performance.now();
    const location = relativeInside(base, path.join(fs.realpathSync(cache.dir), gkey, 'graph.data'))!;
    const lease = await cache.openAsync(gkey, 0, async (dir) => {
      const bytes = await this.build(recipe, { base, converted, file: path.join(dir, 'graph.data'), location });
      fs.writeFileSync(path.join(dir, 'graph.onnx'), bytes);
    });
    this.leases.push(lease);
    try {
      return { bytes: fs.readFileSync(path.join(lease.dir, 'graph.onnx')), base, buildMs: performance.now() - t0, lease };
    } catch (e) {
      this.unlease(lease);
      throw e;
    }
  }

  private graphKey(key: Record<string, unknown>): string {
    return GraphCache.key({ graph: this.ckpt.contentHash, key, dtype: this.o.dtype, halfWeights: this.o.halfWeights, base: this.base, files: this.files, v: this.o.version });
  }

  private unlease(lease: CacheLease): void {
    this.leases = this.leases.filter((l) => l !== lease);
    lease.release();
  }

  /**
   * A session of the graph of `recipe` (graph()), built once and cached where the store has a cache; `create` makes it
   * elsewhere than on this thread (a streamed run's block host), from the same bytes and options.
   */
  async session<S extends { release(): Promise<void> } = ort.InferenceSession>(
    key: Record<string, unknown>,
    recipe: GraphRecipe,
    so: ort.InferenceSession.SessionOptions,
    create?: SessionCreator<S>,
  ): Promise<S> {
    const open = async () => {
      const g = await this.graph(key, recipe);
      try {
        return await this.timedSession(key, g.bytes, withDataFolder(so, g.base), g.buildMs, create);
      } catch (e) {
        if (g.lease) this.unlease(g.lease);
        throw e;
      }
    };
    if (!this.cache || this.base === undefined) return open();
    const gkey = this.graphKey(key);
    // what a rebuild cannot fix is thrown as it is: a refused cache limit, a device out of memory
    const damage = (e: unknown) => !(e instanceof LabError) && !/out of memory|alloc/i.test(String((e as Error)?.message));
    try {
      return await open();
    } catch (e) {
      if (!damage(e)) throw e;
      // a damaged entry (a truncated file, a checkpoint file replaced under the same path) is rebuilt, never trusted:
      // the graph first, then the converted weights as well
      this.drop(gkey);
      try {
        return await open();
      } catch (e2) {
        if (!damage(e2)) throw e2;
        this.drop(gkey);
        const w = this.leases.find((l) => fs.existsSync(path.join(l.dir, 'weights.json')));
        if (w) {
          this.unlease(w);
          this.converted = undefined;
          this.drop(w.key);
        }
        return open();
      }
    }
  }

  /** the session of `bytes`, its build (given) and creation times recorded in `timings` */
  private async timedSession<S extends { release(): Promise<void> }>(key: Record<string, unknown>, bytes: Uint8Array, so: ort.InferenceSession.SessionOptions, buildMs: number, create?: SessionCreator<S>): Promise<S> {
    const t0 = performance.now();
    const sess = await createSession(bytes, so, this.o.signal, create);
    this.timings.push({ graph: JSON.stringify(key), buildMs: Math.round(buildMs), createMs: Math.round(performance.now() - t0) });
    return sess;
  }

  /** removes a cache entry unless another process holds it */
  private drop(key: string): void {
    try {
      this.cache!.remove(key);
    } catch {
      /* held by another process: leave it to them */
    }
  }

  /**
   * Per-layer arrays derived from the weights (the CETT column norms ‖W_out[:,i]‖₂), kept in the cache beside the
   * graphs: computing them reads every down_proj (7B: 2.9 GB), reading them back a few hundred KB.
   */
  async derived(name: string, make: () => Promise<Float32Array[]>): Promise<Float32Array[]> {
    if (!this.cache) return make();
    const key = GraphCache.key({ derived: name, of: this.ckpt.contentHash, v: WEIGHTS_VERSION });
    // computed before the entry is opened (the cache writes entries synchronously), only when it is not there
    const pre = this.cache.has(key) ? undefined : await make();
    let made: Float32Array[] | undefined;
    let lease: CacheLease;
    try {
      lease = this.cache.open(key, 0, (dir) => {
        if (!pre) throw new Error('the cached entry went away meanwhile');
        made = pre;
        fs.writeFileSync(path.join(dir, 'lengths.json'), JSON.stringify(pre.map((a) => a.length)));
        const fd = fs.openSync(path.join(dir, 'values.f32'), 'w');
        try {
          for (const a of pre) fs.writeSync(fd, new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
        } finally {
          fs.closeSync(fd);
        }
      });
    } catch {
      return pre ?? make(); // not cached this time (evicted between the check and the open, or no room)
    }
    try {
      if (made) return made;
      const lengths = JSON.parse(fs.readFileSync(path.join(lease.dir, 'lengths.json'), 'utf8')) as number[];
      const buf = fs.readFileSync(path.join(lease.dir, 'values.f32'));
      const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
      if (!Array.isArray(lengths) || lengths.reduce((a, n) => a + n, 0) !== all.length) throw new Error(`damaged cache entry ${lease.dir}`);
      let at = 0;
      return lengths.map((n) => all.slice(at, (at += n)));
    } catch {
      this.drop(key); // damaged: computed again, never trusted
      return make();
    } finally {
      lease.release();
    }
  }

  /** Releases the cache entries (and removes the temporary folder, if one was made). */
  dispose(): void {
    for (const l of this.leases) l.release();
    this.leases = [];
    if (this.tmp) fs.rmSync(this.tmp, { recursive: true, force: true });
  }
}

/**
 * The checkpoint card's disk facts: the weight files' bytes, and for the CPU graph (fp32, 16-bit matrices kept 16-bit)
 * and the GPU graph (fp16) what is read in place and what is written as converted copies (planWeights).
 */
export function diskFacts(ckpt: LoadedCheckpoint): DiskFacts {
  const dir = fs.statSync(ckpt.path).isDirectory() ? ckpt.path : path.dirname(ckpt.path);
  const weightBytes = fs
    .readdirSync(dir)
    .filter((f) => /\.(safetensors|bin)$/.test(f))
    .reduce((a, f) => a + fs.statSync(path.join(dir, f)).size, 0);
  const graph = (target: 'cpu' | 'gpu', dtype: 'float32' | 'float16', halfWeights: boolean) => {
    const p = planWeights(ckpt, { dtype, halfWeights });
    return { target, dtype, inPlaceBytes: p.inPlaceBytes, convertedBytes: p.convertedBytes, conversions: p.conversions };
  };
  return { weightBytes, graphs: [graph('cpu', 'float32', true), graph('gpu', 'float16', false)] };
}
