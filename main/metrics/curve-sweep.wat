;; The inner sweep of the CPU's CETT curve (curve-kernel.ts): for one token, its neurons in the sorted order idx,
;; the running output sum acc += a_i · W_out[:, i] (float64 from fp32 inputs) and its squared norm after every
;; neuron, sq[k]. Two f64 lanes at a time; the squared norm in four partial sums (lanes of s01 and s23) added as
;; (s0 + s1) + (s2 + s3), the rest of d (d mod 4) into s0 — the same operations, in the same order, as the plain
;; JS loop of main/metrics/curve-kernel.test.ts, so the same bits. Regenerate the bytes in curve-sweep-wasm.ts
;; with `node scripts/build-curve-wasm.mjs` (wabt's wat2wasm).
(module
  ;; shared: one copy of W_out per layer for every worker thread (each has its own slot for the rest)
  (import "env" "memory" (memory 1 65536 shared))
  ;; byte offsets: a f32[F] (one token's row), idx i32[F], wT f32[F*d], acc f64[d] (zeroed here), sq f64[F] (out)
  (func (export "sweep") (param $a i32) (param $idx i32) (param $f i32) (param $d i32) (param $wT i32)
        (param $acc i32) (param $sq i32) (result f64)
    (local $k i32) (local $i i32) (local $r i32) (local $w i32) (local $p i32)
    (local $ai f64) (local $s f64) (local $s0 f64) (local $v f64)
    (local $aiv v128) (local $x v128) (local $v01 v128) (local $v23 v128) (local $s01 v128) (local $s23 v128)
    ;; acc = 0
    (local.set $r (i32.const 0))
    (block $z (loop $zl
      (br_if $z (i32.ge_u (local.get $r) (local.get $d)))
      (f64.store (i32.add (local.get $acc) (i32.shl (local.get $r) (i32.const 3))) (f64.const 0))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $zl)))
    (local.set $s (f64.const 0))
    (local.set $k (i32.const 0))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $k) (local.get $f)))
      (local.set $i (i32.load (i32.add (local.get $idx) (i32.shl (local.get $k) (i32.const 2)))))
      (local.set $ai (f64.promote_f32 (f32.load (i32.add (local.get $a) (i32.shl (local.get $i) (i32.const 2))))))
      (if (f64.ne (local.get $ai) (f64.const 0))
        (then
          (local.set $w (i32.add (local.get $wT) (i32.shl (i32.mul (local.get $i) (local.get $d)) (i32.const 2))))
          (local.set $aiv (f64x2.splat (local.get $ai)))
          (local.set $s01 (v128.const f64x2 0 0))
          (local.set $s23 (v128.const f64x2 0 0))
          (local.set $r (i32.const 0))
          (block $b4 (loop $l4
            (br_if $b4 (i32.gt_s (i32.add (local.get $r) (i32.const 3)) (i32.sub (local.get $d) (i32.const 1))))
            (local.set $x (v128.load (i32.add (local.get $w) (i32.shl (local.get $r) (i32.const 2)))))
            (local.set $p (i32.add (local.get $acc) (i32.shl (local.get $r) (i32.const 3))))
            (local.set $v01 (f64x2.add (v128.load (local.get $p))
                                       (f64x2.mul (local.get $aiv) (f64x2.promote_low_f32x4 (local.get $x)))))
            (local.set $v23 (f64x2.add (v128.load offset=16 (local.get $p))
                                       (f64x2.mul (local.get $aiv) (f64x2.promote_low_f32x4
                                         (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x))))))
            (v128.store (local.get $p) (local.get $v01))
            (v128.store offset=16 (local.get $p) (local.get $v23))
            (local.set $s01 (f64x2.add (local.get $s01) (f64x2.mul (local.get $v01) (local.get $v01))))
            (local.set $s23 (f64x2.add (local.get $s23) (f64x2.mul (local.get $v23) (local.get $v23))))
            (local.set $r (i32.add (local.get $r) (i32.const 4)))
            (br $l4)))
          (local.set $s0 (f64x2.extract_lane 0 (local.get $s01)))
          (block $b1 (loop $l1
            (br_if $b1 (i32.ge_s (local.get $r) (local.get $d)))
            (local.set $p (i32.add (local.get $acc) (i32.shl (local.get $r) (i32.const 3))))
            (local.set $v (f64.add (f64.load (local.get $p))
                                   (f64.mul (local.get $ai) (f64.promote_f32 (f32.load (i32.add (local.get $w) (i32.shl (local.get $r) (i32.const 2))))))))
            (f64.store (local.get $p) (local.get $v))
            (local.set $s0 (f64.add (local.get $s0) (f64.mul (local.get $v) (local.get $v))))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $l1)))
          (local.set $s (f64.add (f64.add (local.get $s0) (f64x2.extract_lane 1 (local.get $s01)))
                                 (f64.add (f64x2.extract_lane 0 (local.get $s23)) (f64x2.extract_lane 1 (local.get $s23)))))))
      (f64.store (i32.add (local.get $sq) (i32.shl (local.get $k) (i32.const 3))) (local.get $s))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $next)))
    (local.get $s))
)
