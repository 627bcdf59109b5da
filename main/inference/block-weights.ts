/**
 * The weights of a streamed search's blocks as graph inputs (issue 15; streamed.ts, search-graph.ts `weightInputs`):
 * each block's layer tensors are read from the checkpoint's files (fs reads at their stored offsets, never a
 * whole-model load) into host buffers and handed to the block session as ort Tensors of the very dtype and layout the
 * initializers would have (weights.ts planWeights: the same bytes where the graph points at the checkpoint in place;
 * the same conversion where it does not). Two buffers: while one block runs, the next block's bytes are read into the
 * other (the reads run on libuv's threads beside onnxruntime's run), so the host holds about two blocks' weights.
 */
import fs from 'node:fs';
import * as ort from 'onnxruntime-node';
import { LabError } from '../api/errors';
import type { LoadedCheckpoint, StoredBytes } from '../checkpoint/types';
import { weightInputName, type GraphDType } from '../graph/llama-graph';
import { convertTensor, onnxElem, planWeights, storedDims, type PlannedTensor } from '../graph/weights';
import { wallMs } from './block-host';

/** bytes per read call: a block's tensors are read in pieces side by side on libuv's threads */
const PIECE = 32 * 1024 ** 2;

export interface WeightStats {
  /** blocks read */
  loads: number;
  /** bytes read (or converted) */
  bytes: number;
  /** wall ms of the reads, prefetched or not */
  readMs: number;
  /** ms the search waited for weights not yet read (the rest ran beside the block before) */
  waitMs: number;
  /** bytes decoded and converted here, on the engine's thread (tensors neither in place nor in the cache's converted copy) */
  convertedBytes: number;
}

type Feeds = Record<string, ort.Tensor>;

export class BlockWeights {
  readonly stats: WeightStats = { loads: 0, bytes: 0, readMs: 0, waitMs: 0, convertedBytes: 0 };
  private preparedP?: Promise<Map<string, StoredBytes> | undefined>;
  private plan: Map<string, PlannedTensor>;
  private files = new Map<string, Promise<fs.promises.FileHandle>>();
  /** per buffer, the typed array of each input name (blocks of one shape reuse them) */
  private slots: Map<string, Float32Array | Uint16Array>[] = [new Map(), new Map()];
  /** the buffer of the block handed out last (its run may be in flight: a read never goes there) */
  private cur = 1;
  private next?: { key: string; slot: number; feeds: Promise<Feeds> };

  /**
   * `prepared`: where the graph store keeps the converted copies of this plan's tensors (GraphStore.convertedFor), asked
   * at the first block that needs one; tensors found there are read like the checkpoint's own bytes
   */
  constructor(
    private ckpt: LoadedCheckpoint,
    o: { dtype: GraphDType; halfWeights: boolean },
    private prepared?: () => Promise<Map<string, StoredBytes> | undefined>,
  ) {
    this.plan = planWeights(ckpt, o).tensors;
  }

  /** whether every layer tensor of graphs with these options can be fed (fp32 or fp16: onnxruntime-node has no bfloat16 input) */
  static feedable(ckpt: LoadedCheckpoint, o: { dtype: GraphDType; halfWeights: boolean }): boolean {
    for (const p of planWeights(ckpt, o).tensors.values()) if (p.name.startsWith('layers.') && onnxElem(p.elem) === 'bfloat16') return false;
    return true;
  }

  /** the weight feeds of layers [from, to) (waits for their reads; the prefetched block's when it is this one) */
  async get(from: number, to: number): Promise<Feeds> {
    const key = `${from}:${to}`;
    let n = this.next;
    this.next = undefined;
    if (n?.key !== key) {
      await n?.feeds.catch(() => undefined);
      n = this.start(from, to);
    }
    const t0 = wallMs();
    try {
      return await n.feeds;
    } finally {
      this.stats.waitMs += wallMs() - t0;
      this.cur = n.slot;
    }
  }

  /** starts reading layers [from, to) into the buffer the block handed out last does not use */
  prefetch(from: number, to: number): void {
    if (this.next) return;
    this.next = this.start(from, to);
    this.next.feeds.catch(() => undefined); // its error is thrown by get()
  }

  private start(from: number, to: number) {
    const slot = 1 - this.cur;
    return { key: `${from}:${to}`, slot, feeds: this.load(from, to, slot) };
  }

  private file(path: string): Promise<fs.promises.FileHandle> {
    let f = this.files.get(path);
    if (!f) {
      f = fs.promises.open(path, 'r');
      f.catch(() => this.files.delete(path));
      this.files.set(path, f);
    }
    return f;
  }

  private async load(from: number, to: number, slot: number): Promise<Feeds> {
    const t0 = wallMs();
    const feeds: Feeds = {};
    const reads: Promise<void>[] = [];
    const bufs = this.slots[slot];
    let bytes = 0;
    for (const p of this.plan.values()) {
      const m = /^layers\.(\d+)\.(.+)$/.exec(p.name);
      if (!m || Number(m[1]) < from || Number(m[1]) >= to) continue;
      const name = weightInputName(Number(m[1]), from, m[2]);
      const type = onnxElem(p.elem);
      if (type !== 'float16' && type !== 'float32') throw new LabError('UNSUPPORTED', `${this.ckpt.path}: ${p.src} is kept as ${type}, which cannot be fed as an input`);
      const half = type === 'float16';
      const n = p.dims.reduce((a, b) => a * b, 1);
      let arr = bufs.get(name);
      if (!arr || arr.length !== n || arr instanceof Uint16Array !== half) bufs.set(name, (arr = half ? new Uint16Array(n) : new Float32Array(n)));
      // the checkpoint's bytes, or the converted copy the graphs point at (canonical layout, the graph's dtype)
      const b = p.place ?? (await (this.preparedP ??= this.prepared?.() ?? Promise.resolve(undefined)))?.get(p.name);
      // the initializer's dtype and layout (weights.ts): the bytes the graph would have pointed at
      feeds[name] = new ort.Tensor(type, arr, storedDims(p));
      bytes += arr.byteLength;
      if (b) {
        if (b.length !== arr.byteLength) throw new LabError('BAD_CHECKPOINT', `${b.file}: ${p.src} holds ${b.length} bytes, its shape ${p.dims.join('×')} needs ${arr.byteLength}`);
        const dst = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
        for (let o = 0; o < b.length; o += PIECE) reads.push(this.read(b.file, p.src, dst.subarray(o, Math.min(b.length, o + PIECE)), b.offset + o));
      } else {
        arr.set(convertTensor(this.ckpt, p)); // nowhere stored as the graph holds it: the conversion the build would make
        this.stats.convertedBytes += arr.byteLength;
      }
    }
    await Promise.all(reads);
    this.stats.loads++;
    this.stats.bytes += bytes;
    this.stats.readMs += wallMs() - t0;
    return feeds;
  }

  private async read(path: string, tensor: string, dst: Uint8Array, pos: number): Promise<void> {
    let fh: fs.promises.FileHandle;
    try {
      fh = await this.file(path);
    } catch (e) {
      throw new LabError('BAD_CHECKPOINT', `${path}: cannot open it to read ${tensor} (${(e as Error).message})`);
    }
    for (let o = 0; o < dst.length; ) {
      const { bytesRead } = await fh.read(dst, o, dst.length - o, pos + o);
      if (bytesRead === 0) throw new LabError('BAD_CHECKPOINT', `${path}: the file ends before byte ${pos + dst.length} (tensor ${tensor}); was it changed while open?`);
      o += bytesRead;
    }
  }

  /** waits for a read in flight and closes the files */
  async close(): Promise<void> {
    await this.next?.feeds.catch(() => undefined);
    this.next = undefined;
    for (const f of this.files.values()) await (await f.catch(() => undefined))?.close();
    this.files.clear();
    this.slots = [new Map(), new Map()];
  }
}
