/**
 * What one bisection level of the fused CETT search costs, operator formulation by formulation (issue 16): each
 * variant is one level's work — the tail test, the masked activations, the product with W_out, the per-token norm and
 * the mean ratio — on device-generated data of a model's shape, inside an ONNX Loop of K iterations, timed at K = 0
 * and K = --k; the difference ÷ K is the cost of a level. The values are random (the cost of these kernels does not
 * depend on them); nothing here is a measurement of sparsity.
 * `npm run bench -- kernels [--shape 0.1b|7b|L,T,F,d] [--provider cuda] [--k 20] [--variants cur,mm,…] [--dtype float16]`
 */
import * as ort from 'onnxruntime-node';
import { DT, GraphBuilder } from '../main/graph/onnx-builder';
import { machine, parse, writeOut } from './common';

const SHAPES: Record<string, [number, number, number, number]> = {
  '0.1b': [16, 16384, 1920, 768], // all 16 layers of the paper's 0.1B in one group, 16 × 1024 tokens
  '7b': [2, 16384, 11008, 4096], // LLaMA-2-7B: a group of 2 layers (searchLayerGroup), 16 × 1024 tokens
};

type Variant = (b: GraphBuilder, x: Ctx) => string; // returns an fp32 scalar
interface Ctx {
  A: string; // [Lg,T,F]
  absA: string;
  AT: string; // [Lg,F,T]
  absAT: string;
  W: string; // [Lg,F,d]
  WT: string; // [Lg,d,F]
  bound: string; // [Lg,1,F] (this iteration's)
  boundT: string; // [Lg,F,1]
  safeFull: string; // [Lg,T] fp32
  valid: string; // [Lg,T] bool
  T: number; // elem type
  Lg: number;
  zero: string; // typed 0
  f0: string; // fp32 0
  i64: (v: number[], dims?: number[]) => string;
}

const tiny = (b: GraphBuilder, x: Ctx, t: string, rank: number): string => {
  const z = x.i64(new Array(rank).fill(0));
  const o = x.i64(new Array(rank).fill(1));
  return b.op('ReduceSum', [b.op('Cast', [b.op('Slice', [t, z, o])], { to: DT.FLOAT })], { keepdims: 0 });
};
const ratioSum = (b: GraphBuilder, x: Ctx, norm: string, axisT = 1): string => {
  const r = b.op('Where', [x.valid, b.op('Div', [norm, x.safeFull]), x.f0]);
  return b.op('ReduceSum', [r], { keepdims: 0, noop_with_empty_axes: 0 }) + (axisT ? '' : '');
};
const l2 = (b: GraphBuilder, x: Ctx, prod: string, axis: number): string =>
  b.op('ReduceL2', [x.T === DT.FLOAT ? prod : b.op('Cast', [prod], { to: DT.FLOAT })], { axes: [axis], keepdims: 0 });

const VARIANTS: Record<string, Variant> = {
  empty: (b, x) => x.f0,
  mmOnly: (b, x) => tiny(b, x, b.op('MatMul', [x.A, x.W]), 3),
  mask: (b, x) => tiny(b, x, b.op('Where', [b.op('LessOrEqual', [x.absA, x.bound]), x.A, x.zero]), 3),
  maskMul: (b, x) => tiny(b, x, b.op('Mul', [x.A, b.op('Cast', [b.op('LessOrEqual', [x.absA, x.bound])], { to: x.T })]), 3),
  post: (b, x) => ratioSum(b, x, l2(b, x, b.op('MatMul', [x.A, x.W]), 2)),
  cur: (b, x) => ratioSum(b, x, l2(b, x, b.op('MatMul', [b.op('Where', [b.op('LessOrEqual', [x.absA, x.bound]), x.A, x.zero]), x.W]), 2)),
  mul: (b, x) => ratioSum(b, x, l2(b, x, b.op('MatMul', [b.op('Mul', [x.A, b.op('Cast', [b.op('LessOrEqual', [x.absA, x.bound])], { to: x.T })]), x.W]), 2)),
  sumsq: (b, x) => {
    const prod = b.op('MatMul', [b.op('Where', [b.op('LessOrEqual', [x.absA, x.bound]), x.A, x.zero]), x.W]);
    return ratioSum(b, x, b.op('Sqrt', [b.op('ReduceSumSquare', [b.op('Cast', [prod], { to: DT.FLOAT })], { axes: [2], keepdims: 0 })]));
  },
  l2half: (b, x) => {
    const prod = b.op('MatMul', [b.op('Where', [b.op('LessOrEqual', [x.absA, x.bound]), x.A, x.zero]), x.W]);
    return ratioSum(b, x, b.op('Cast', [b.op('ReduceL2', [prod], { axes: [2], keepdims: 0 })], { to: DT.FLOAT }));
  },
  // as the search graph has it: the bound [P·J=1, Lg, 1, F], so the tail is 4-D and the product broadcasts W over P·J
  cur4d: (b, x) => {
    const b4 = b.op('Unsqueeze', [x.bound, x.i64([0])]);
    const prod = b.op('MatMul', [b.op('Where', [b.op('LessOrEqual', [x.absA, b4]), x.A, x.zero]), x.W]); // [1,Lg,T,d]
    return ratioSum(b, x, b.op('Squeeze', [l2(b, x, prod, 3), x.i64([0])]));
  },
  // the product on W_out as the checkpoint stores it ([Lg,d,F]) through com.microsoft FusedMatMul(transB), with √ΣΣ
  fmm: (b, x) => {
    const prod = b.node('FusedMatMul', [b.op('Where', [b.op('LessOrEqual', [x.absA, x.bound]), x.A, x.zero]), x.WT], { transB: 1 }, 1, 'com.microsoft')[0];
    return ratioSum(b, x, b.op('Sqrt', [b.op('ReduceSumSquare', [b.op('Cast', [prod], { to: DT.FLOAT })], { axes: [2], keepdims: 0 })]));
  },
  leOnly: (b, x) => tiny(b, x, b.op('LessOrEqual', [x.absA, x.bound]), 3),
  // the tail test against one scalar per layer (activations pre-scaled by the column norms)
  scalarT: (b, x) => tiny(b, x, b.op('Where', [b.op('LessOrEqual', [x.absA, b.op('ReduceMax', [x.bound], { axes: [2], keepdims: 1 })]), x.A, x.zero]), 3),
  // activations held as [Lg,F,T]: the bound broadcasts along the last axis, the product is W_out·tail → [Lg,d,T]
  tT: (b, x) => ratioSum(b, x, l2(b, x, b.op('MatMul', [x.WT, b.op('Where', [b.op('LessOrEqual', [x.absAT, x.boundT]), x.AT, x.zero])]), 1)),
  // one 2-D product per layer (no batched MatMul)
  perLayer: (b, x) => {
    const tail = b.op('Where', [b.op('LessOrEqual', [x.absA, x.bound]), x.A, x.zero]);
    const parts = b.node('Split', [tail], { axis: 0 }, x.Lg);
    const ws = b.node('Split', [x.W], { axis: 0 }, x.Lg);
    const ax0 = x.i64([0]);
    const prods = parts.map((p, l) => b.op('Unsqueeze', [b.op('MatMul', [b.op('Squeeze', [p, ax0]), b.op('Squeeze', [ws[l], ax0])]), ax0]));
    return ratioSum(b, x, l2(b, x, x.Lg === 1 ? prods[0] : b.op('Concat', prods, { axis: 0 }), 2));
  },
  // Gemm with transB on W_out in the checkpoint's [d,F] layout, per layer
  gemm: (b, x) => {
    const tail = b.op('Where', [b.op('LessOrEqual', [x.absA, x.bound]), x.A, x.zero]);
    const parts = b.node('Split', [tail], { axis: 0 }, x.Lg);
    const ws = b.node('Split', [x.WT], { axis: 0 }, x.Lg);
    const ax0 = x.i64([0]);
    const prods = parts.map((p, l) => b.op('Unsqueeze', [b.op('Gemm', [b.op('Squeeze', [p, ax0]), b.op('Squeeze', [ws[l], ax0])], { transB: 1 }), ax0]));
    return ratioSum(b, x, l2(b, x, x.Lg === 1 ? prods[0] : b.op('Concat', prods, { axis: 0 }), 2));
  },
};

function build(shape: [number, number, number, number], dtype: 'float16' | 'float32', variant: Variant): Uint8Array {
  const [Lg, T, F, d] = shape;
  const g = new GraphBuilder('sparsity-lab-kernels');
  const TT = dtype === 'float16' ? DT.FLOAT16 : DT.FLOAT;
  const K = g.input('K', DT.INT64, []);
  const rnd = (dims: number[], lo: number, hi: number, seed: number) => {
    const u = g.op('RandomUniform', [], { shape: dims, low: { float: lo }, high: { float: hi }, seed: { float: seed }, dtype: DT.FLOAT });
    return TT === DT.FLOAT ? u : g.op('Cast', [u], { to: TT });
  };
  const A = rnd([Lg, T, F], -1, 1, 1);
  const W = rnd([Lg, F, d], -0.05, 0.05, 2);
  const bound0 = rnd([Lg, 1, F], 0, 0.9, 3);
  const absA = g.op('Abs', [A]);
  const AT = g.op('Transpose', [A], { perm: [0, 2, 1] });
  const absAT = g.op('Abs', [AT]);
  const WT = g.op('Transpose', [W], { perm: [0, 2, 1] });
  const full = g.op('ReduceL2', [TT === DT.FLOAT ? g.op('MatMul', [A, W]) : g.op('Cast', [g.op('MatMul', [A, W])], { to: DT.FLOAT })], { axes: [2], keepdims: 0 });
  const f0 = g.f32(g.fresh('f'), [0], []);
  const valid = g.op('Greater', [full, f0]);
  const safeFull = g.op('Where', [valid, full, g.f32(g.fresh('f'), [1], [])]);
  const zero = TT === DT.FLOAT ? f0 : g.op('Cast', [f0], { to: TT });
  const body = g.body('lvl');
  body.input('it', DT.INT64, []);
  body.input('cin', DT.BOOL, []);
  body.input('acc', DT.FLOAT, []);
  // this iteration's bound: bound0 · (1 + it/1000), so no two iterations are the same computation
  const s = body.op('Add', [body.f32(body.fresh('f'), [1], []), body.op('Div', [body.op('Cast', ['it'], { to: DT.FLOAT }), body.f32(body.fresh('f'), [1000], [])])]);
  const bound = body.op('Mul', [bound0, TT === DT.FLOAT ? s : body.op('Cast', [s], { to: TT })]);
  const boundT = body.op('Transpose', [bound], { perm: [0, 2, 1] });
  const x: Ctx = { A, absA, AT, absAT, W, WT, bound, boundT, safeFull, valid, T: TT, Lg, zero, f0, i64: (v, dims) => body.i64(body.fresh('k'), v, dims) };
  const v = variant(body, x);
  body.output(body.op('Identity', ['cin']), DT.BOOL, []);
  body.output(body.op('Add', ['acc', v]), DT.FLOAT, []);
  const [out] = g.node('Loop', [K, g.init('cond', DT.BOOL, [], new Uint8Array([1])), f0], { body: { graph: body.subgraph() } }, 1);
  g.op('Identity', [out], {}, 'acc_out');
  g.output('acc_out', DT.FLOAT, []);
  return g.build();
}

export async function main(argv: string[]): Promise<void> {
  const v = parse(argv);
  const shapeArg = (v.shape as string | undefined) ?? '0.1b';
  const shape = SHAPES[shapeArg] ?? (shapeArg.split(',').map(Number) as [number, number, number, number]);
  if (shape.length !== 4 || shape.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`--shape: '${shapeArg}' is not 0.1b, 7b or L,T,F,d`);
  const provider = (v.provider as string | undefined) ?? 'cpu';
  const dtype = ((v.dtype as string | undefined) ?? (provider === 'cpu' ? 'float32' : 'float16')) as 'float16' | 'float32';
  const K = Number(v.k ?? 20);
  const names = ((v.variants as string | undefined) ?? Object.keys(VARIANTS).join(',')).split(',');
  const rows: { variant: string; perLevelMs?: number; k0Ms?: number; error?: string }[] = [];
  for (const name of names) {
    const variant = VARIANTS[name];
    if (!variant) throw new Error(`--variants: '${name}' is not one of ${Object.keys(VARIANTS).join(', ')}`);
    let sess: ort.InferenceSession | undefined;
    try {
      sess = await ort.InferenceSession.create(build(shape, dtype, variant), { executionProviders: [provider], graphOptimizationLevel: (v.opt as 'all' | 'basic' | undefined) ?? 'all', logSeverityLevel: 3 });
      const run = async (k: number) => {
        const t0 = performance.now();
        await sess!.run({ K: new ort.Tensor('int64', new BigInt64Array([BigInt(k)]), []) });
        return performance.now() - t0;
      };
      await run(1); // warm-up
      await run(K);
      const t0 = Math.min(await run(0), await run(0));
      const tk = Math.min(await run(K), await run(K));
      rows.push({ variant: name, perLevelMs: +((tk - t0) / K).toFixed(3), k0Ms: +t0.toFixed(1) });
    } catch (e) {
      rows.push({ variant: name, error: (e as Error).message.split('\n')[0].slice(0, 300) });
    } finally {
      await sess?.release();
    }
    console.error(JSON.stringify(rows[rows.length - 1]));
  }
  const res = { suite: 'kernels', shape, provider, dtype, k: K, rows, machine: machine(), date: new Date().toISOString() };
  console.log(JSON.stringify(res));
  writeOut(v.out, res);
}
