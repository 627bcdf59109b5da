;; The inner sweep of the CPU's CETT curve (curve-kernel.ts): for each of n tokens, its neurons in the sorted order idx,
;; the running output sum acc += a_i · W_out[:, i] (float64 from fp32 inputs) and its squared norm after every
;; neuron, sq[k]. Blocked over d (curve-kernel.ts curveMemory's layout): for each block of db columns in order, for
;; each token, its neurons in order — the block's running sum from zero, each neuron's four partial sums of squares
;; (lanes of s01 and s23: lane q over r ≡ q mod 4 in order, the rest of d mod 4 into lane 0) carried on from the
;; block before in P. A block's columns of W_out are read from memory once for the n tokens and from the cache after.
;; At the end each neuron's squared norm is (s0 + s1) + (s2 + s3). Every sum takes the same terms in the same order as
;; the plain loop over the whole of d, and as makeSweeper's JS back end, so the same bits. Two f64 lanes at a time;
;; the neurons with a non-zero activation go two at a time through one pass over a block (the second adds its term
;; to the first's running sum in the same step): the same operations per neuron, and two independent chains of
;; partial sums instead of one (a single chain of adds bounds the loop's speed). Regenerate the bytes in
;; curve-sweep-wasm.ts with `node scripts/build-curve-wasm.mjs` (wabt's wat2wasm).
(module
  ;; shared: one copy of W_out per layer for every worker thread (each has its own slot for the rest)
  (import "env" "memory" (memory 1 65536 shared))
  ;; byte offsets: a f32[n, F] (the tokens' rows), idx i32[n, F], wT f32[F*d] (blocked: block at column r0 is
  ;; [F, min(db, d − r0)] at wT + 4·r0·F), acc f64[db] (one block's running sum), sq f64[n, F] (out),
  ;; p f64[n, F, 4] (the partial sums); db: a multiple of 4 (or ≥ d: one block)
  (func (export "sweep") (param $a i32) (param $idx i32) (param $f i32) (param $d i32) (param $wT i32)
        (param $acc i32) (param $sq i32) (param $P i32) (param $n i32) (param $db i32) (result f64)
    (local $r0 i32) (local $wb i32) (local $base i32) (local $first i32) (local $tk i32) (local $ao i32) (local $io i32)
    (local $po i32) (local $k i32) (local $i i32) (local $c i32) (local $w i32) (local $w2 i32) (local $p i32)
    (local $p1 i32) (local $p2 i32) (local $so i32)
    (local $ai f64) (local $a2 f64) (local $s f64) (local $s0 f64) (local $t0 f64) (local $v f64) (local $u f64)
    (local $aiv v128) (local $a2v v128) (local $x v128) (local $x2 v128) (local $v01 v128) (local $v23 v128)
    (local $u01 v128) (local $u23 v128) (local $s01 v128) (local $s23 v128) (local $t01 v128) (local $t23 v128)
    (local.set $r0 (i32.const 0))
    (block $blocks (loop $bl
      (br_if $blocks (i32.ge_s (local.get $r0) (local.get $d)))
      ;; this block's width and its rows of W_out
      (local.set $wb (i32.sub (local.get $d) (local.get $r0)))
      (if (i32.gt_s (local.get $wb) (local.get $db)) (then (local.set $wb (local.get $db))))
      (local.set $base (i32.add (local.get $wT) (i32.shl (i32.mul (local.get $r0) (local.get $f)) (i32.const 2))))
      (local.set $first (i32.eqz (local.get $r0)))
      (local.set $tk (i32.const 0))
      (block $toks (loop $tl
        (br_if $toks (i32.ge_s (local.get $tk) (local.get $n)))
        (local.set $ao (i32.add (local.get $a) (i32.shl (i32.mul (local.get $tk) (local.get $f)) (i32.const 2))))
        (local.set $io (i32.add (local.get $idx) (i32.shl (i32.mul (local.get $tk) (local.get $f)) (i32.const 2))))
        (local.set $po (i32.add (local.get $P) (i32.shl (i32.mul (local.get $tk) (local.get $f)) (i32.const 5))))
        ;; acc = 0
        (local.set $c (i32.const 0))
        (block $z (loop $zl
          (br_if $z (i32.ge_s (local.get $c) (local.get $wb)))
          (f64.store (i32.add (local.get $acc) (i32.shl (local.get $c) (i32.const 3))) (f64.const 0))
          (local.set $c (i32.add (local.get $c) (i32.const 1)))
          (br $zl)))
        (local.set $k (i32.const 0))
        (block $tokdone (loop $next
          ;; the next neuron with a non-zero activation
          (block $found1 (loop $seek1
            (br_if $tokdone (i32.ge_u (local.get $k) (local.get $f)))
            (local.set $i (i32.load (i32.add (local.get $io) (i32.shl (local.get $k) (i32.const 2)))))
            (local.set $ai (f64.promote_f32 (f32.load (i32.add (local.get $ao) (i32.shl (local.get $i) (i32.const 2))))))
            (br_if $found1 (f64.ne (local.get $ai) (f64.const 0)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $seek1)))
          (local.set $p1 (i32.add (local.get $po) (i32.shl (local.get $k) (i32.const 5))))
          (local.set $w (i32.add (local.get $base) (i32.shl (i32.mul (local.get $i) (local.get $wb)) (i32.const 2))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          ;; the one after it
          (block $found2 (loop $seek2
            (if (i32.ge_u (local.get $k) (local.get $f)) (then (br $found2)))
            (local.set $i (i32.load (i32.add (local.get $io) (i32.shl (local.get $k) (i32.const 2)))))
            (local.set $a2 (f64.promote_f32 (f32.load (i32.add (local.get $ao) (i32.shl (local.get $i) (i32.const 2))))))
            (br_if $found2 (f64.ne (local.get $a2) (f64.const 0)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $seek2)))
          (local.set $aiv (f64x2.splat (local.get $ai)))
          (if (local.get $first)
            (then
              (local.set $s01 (v128.const f64x2 0 0))
              (local.set $s23 (v128.const f64x2 0 0)))
            (else
              (local.set $s01 (v128.load (local.get $p1)))
              (local.set $s23 (v128.load offset=16 (local.get $p1)))))
          (local.set $c (i32.const 0))
          (if (i32.lt_u (local.get $k) (local.get $f))
            (then
              ;; two neurons: the first (a_i, row w, sums p1) then this one (a2, row w2, sums p2)
              (local.set $p2 (i32.add (local.get $po) (i32.shl (local.get $k) (i32.const 5))))
              (local.set $w2 (i32.add (local.get $base) (i32.shl (i32.mul (local.get $i) (local.get $wb)) (i32.const 2))))
              (local.set $a2v (f64x2.splat (local.get $a2)))
              (if (local.get $first)
                (then
                  (local.set $t01 (v128.const f64x2 0 0))
                  (local.set $t23 (v128.const f64x2 0 0)))
                (else
                  (local.set $t01 (v128.load (local.get $p2)))
                  (local.set $t23 (v128.load offset=16 (local.get $p2)))))
              (block $b4 (loop $l4
                (br_if $b4 (i32.gt_s (i32.add (local.get $c) (i32.const 3)) (i32.sub (local.get $wb) (i32.const 1))))
                (local.set $x (v128.load (i32.add (local.get $w) (i32.shl (local.get $c) (i32.const 2)))))
                (local.set $x2 (v128.load (i32.add (local.get $w2) (i32.shl (local.get $c) (i32.const 2)))))
                (local.set $p (i32.add (local.get $acc) (i32.shl (local.get $c) (i32.const 3))))
                (local.set $v01 (f64x2.add (v128.load (local.get $p))
                                           (f64x2.mul (local.get $aiv) (f64x2.promote_low_f32x4 (local.get $x)))))
                (local.set $v23 (f64x2.add (v128.load offset=16 (local.get $p))
                                           (f64x2.mul (local.get $aiv) (f64x2.promote_low_f32x4
                                             (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x))))))
                (local.set $u01 (f64x2.add (local.get $v01)
                                           (f64x2.mul (local.get $a2v) (f64x2.promote_low_f32x4 (local.get $x2)))))
                (local.set $u23 (f64x2.add (local.get $v23)
                                           (f64x2.mul (local.get $a2v) (f64x2.promote_low_f32x4
                                             (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x2) (local.get $x2))))))
                (v128.store (local.get $p) (local.get $u01))
                (v128.store offset=16 (local.get $p) (local.get $u23))
                (local.set $s01 (f64x2.add (local.get $s01) (f64x2.mul (local.get $v01) (local.get $v01))))
                (local.set $s23 (f64x2.add (local.get $s23) (f64x2.mul (local.get $v23) (local.get $v23))))
                (local.set $t01 (f64x2.add (local.get $t01) (f64x2.mul (local.get $u01) (local.get $u01))))
                (local.set $t23 (f64x2.add (local.get $t23) (f64x2.mul (local.get $u23) (local.get $u23))))
                (local.set $c (i32.add (local.get $c) (i32.const 4)))
                (br $l4)))
              ;; the rest of the block (only the last block of a d that is not a multiple of 4) into lane 0
              (local.set $s0 (f64x2.extract_lane 0 (local.get $s01)))
              (local.set $t0 (f64x2.extract_lane 0 (local.get $t01)))
              (block $b1 (loop $l1
                (br_if $b1 (i32.ge_s (local.get $c) (local.get $wb)))
                (local.set $p (i32.add (local.get $acc) (i32.shl (local.get $c) (i32.const 3))))
                (local.set $v (f64.add (f64.load (local.get $p))
                                       (f64.mul (local.get $ai) (f64.promote_f32 (f32.load (i32.add (local.get $w) (i32.shl (local.get $c) (i32.const 2))))))))
                (local.set $u (f64.add (local.get $v)
                                       (f64.mul (local.get $a2) (f64.promote_f32 (f32.load (i32.add (local.get $w2) (i32.shl (local.get $c) (i32.const 2))))))))
                (f64.store (local.get $p) (local.get $u))
                (local.set $s0 (f64.add (local.get $s0) (f64.mul (local.get $v) (local.get $v))))
                (local.set $t0 (f64.add (local.get $t0) (f64.mul (local.get $u) (local.get $u))))
                (local.set $c (i32.add (local.get $c) (i32.const 1)))
                (br $l1)))
              (local.set $s01 (f64x2.replace_lane 0 (local.get $s01) (local.get $s0)))
              (v128.store (local.get $p2) (f64x2.replace_lane 0 (local.get $t01) (local.get $t0)))
              (v128.store offset=16 (local.get $p2) (local.get $t23))
              (local.set $k (i32.add (local.get $k) (i32.const 1))))
            (else
              ;; the last one alone
              (block $c4 (loop $m4
                (br_if $c4 (i32.gt_s (i32.add (local.get $c) (i32.const 3)) (i32.sub (local.get $wb) (i32.const 1))))
                (local.set $x (v128.load (i32.add (local.get $w) (i32.shl (local.get $c) (i32.const 2)))))
                (local.set $p (i32.add (local.get $acc) (i32.shl (local.get $c) (i32.const 3))))
                (local.set $v01 (f64x2.add (v128.load (local.get $p))
                                           (f64x2.mul (local.get $aiv) (f64x2.promote_low_f32x4 (local.get $x)))))
                (local.set $v23 (f64x2.add (v128.load offset=16 (local.get $p))
                                           (f64x2.mul (local.get $aiv) (f64x2.promote_low_f32x4
                                             (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x))))))
                (v128.store (local.get $p) (local.get $v01))
                (v128.store offset=16 (local.get $p) (local.get $v23))
                (local.set $s01 (f64x2.add (local.get $s01) (f64x2.mul (local.get $v01) (local.get $v01))))
                (local.set $s23 (f64x2.add (local.get $s23) (f64x2.mul (local.get $v23) (local.get $v23))))
                (local.set $c (i32.add (local.get $c) (i32.const 4)))
                (br $m4)))
              (local.set $s0 (f64x2.extract_lane 0 (local.get $s01)))
              (block $c1 (loop $m1
                (br_if $c1 (i32.ge_s (local.get $c) (local.get $wb)))
                (local.set $p (i32.add (local.get $acc) (i32.shl (local.get $c) (i32.const 3))))
                (local.set $v (f64.add (f64.load (local.get $p))
                                       (f64.mul (local.get $ai) (f64.promote_f32 (f32.load (i32.add (local.get $w) (i32.shl (local.get $c) (i32.const 2))))))))
                (f64.store (local.get $p) (local.get $v))
                (local.set $s0 (f64.add (local.get $s0) (f64.mul (local.get $v) (local.get $v))))
                (local.set $c (i32.add (local.get $c) (i32.const 1)))
                (br $m1)))
              (local.set $s01 (f64x2.replace_lane 0 (local.get $s01) (local.get $s0)))))
          (v128.store (local.get $p1) (local.get $s01))
          (v128.store offset=16 (local.get $p1) (local.get $s23))
          (br $next)))
        (local.set $tk (i32.add (local.get $tk) (i32.const 1)))
        (br $tl)))
      (local.set $r0 (i32.add (local.get $r0) (local.get $db)))
      (br $bl)))
    ;; each neuron's squared norm from its partial sums; a zero activation keeps the one before
    (local.set $s (f64.const 0))
    (local.set $tk (i32.const 0))
    (block $toks2 (loop $tl2
      (br_if $toks2 (i32.ge_s (local.get $tk) (local.get $n)))
      (local.set $ao (i32.add (local.get $a) (i32.shl (i32.mul (local.get $tk) (local.get $f)) (i32.const 2))))
      (local.set $io (i32.add (local.get $idx) (i32.shl (i32.mul (local.get $tk) (local.get $f)) (i32.const 2))))
      (local.set $po (i32.add (local.get $P) (i32.shl (i32.mul (local.get $tk) (local.get $f)) (i32.const 5))))
      (local.set $so (i32.add (local.get $sq) (i32.shl (i32.mul (local.get $tk) (local.get $f)) (i32.const 3))))
      (local.set $s (f64.const 0))
      (local.set $k (i32.const 0))
      (block $e (loop $el
        (br_if $e (i32.ge_u (local.get $k) (local.get $f)))
        (local.set $i (i32.load (i32.add (local.get $io) (i32.shl (local.get $k) (i32.const 2)))))
        (if (f64.ne (f64.promote_f32 (f32.load (i32.add (local.get $ao) (i32.shl (local.get $i) (i32.const 2))))) (f64.const 0))
          (then
            (local.set $p (i32.add (local.get $po) (i32.shl (local.get $k) (i32.const 5))))
            (local.set $s (f64.add (f64.add (f64.load (local.get $p)) (f64.load offset=8 (local.get $p)))
                                   (f64.add (f64.load offset=16 (local.get $p)) (f64.load offset=24 (local.get $p)))))))
        (f64.store (i32.add (local.get $so) (i32.shl (local.get $k) (i32.const 3))) (local.get $s))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $el)))
      (local.set $tk (i32.add (local.get $tk) (i32.const 1)))
      (br $tl2)))
    (local.get $s))
)
