/**
 * Cooperative cancellation of a checkpoint open running in a worker (open.ts, open-worker.ts): the loops that read
 * weight bytes (the content hash, the NaN/Inf scan) call checkInterrupted() once per chunk, so an abandoned open stops
 * within one chunk and unwinds through its `finally` blocks, closing every file it opened. A worker that is simply
 * terminated would leave the descriptors it opened synchronously open in the process. The graph worker
 * (main/inference/graph-off-thread.ts) is stopped the same way; there main/graph/weights.ts convertTensor also checks
 * the flag before each tensor it converts.
 */
import { LabError } from '../api/errors';

let flag: Int32Array | undefined;

/** `shared[0] !== 0` means: stop (set by the thread that started this one); undefined: never interrupted. `shared[1]`: withoutFiles. */
export function watchInterrupt(shared: Int32Array | undefined): void {
  flag = shared;
}

export function checkInterrupted(): void {
  if (flag && Atomics.load(flag, 0) !== 0) throw new LabError('CANCELLED', 'opening the checkpoint was cancelled');
}

/**
 * Runs `f`, a long computation that holds no file open (parsing an .onnx file's bytes), with `shared[1]` set: a cancel
 * meanwhile may terminate the worker at once instead of waiting for a chunk boundary (open.ts). Afterwards the cancel
 * flag is checked before anything else runs, so a worker whose cancel came at the very end opens no file after it.
 */
export function withoutFiles<T>(f: () => T): T {
  if (flag && flag.length > 1) Atomics.store(flag, 1, 1);
  try {
    return f();
  } finally {
    if (flag && flag.length > 1) Atomics.store(flag, 1, 0);
  }
}
