/**
 * One readable line for why an execution provider failed to initialise. onnxruntime reports a failed check as
 * `<source file>:<line> <C++ signature> <condition> was false. <message>`, and the native libraries it loads
 * (Dawn for WebGPU, the CUDA runtime) print their own warnings straight to stderr. Users need the cause, not the
 * assertion: the raw text stays in ProviderStatus.details (`sparsity-lab info --verbose`, the app's expanded row).
 * Pure code in common/: the engine makes the line (main/inference/providers.ts), and the measure wizard turns any
 * message that still carries an assertion (an error from a run's start or plan) into the same kind of line.
 */

/** Strips onnxruntime's source location, C++ signature and failed condition, keeping the message after them. */
export function stripOrtAssertion(raw: string): string {
  let s = raw.trim().split('\n')[0].trim();
  const wasFalse = s.indexOf(' was false. ');
  if (wasFalse >= 0) s = s.slice(wasFalse + ' was false. '.length);
  // "/onnxruntime_src/…/x.cc:100 onnxruntime::Foo(…) message" without a failed condition
  s = s.replace(/^\S+\.(?:cc|cpp|cu|h|hpp):\d+\s+(?:\S*::\S*(?:\([^)]*\))?\S*\s+)?/, '');
  return s.trim();
}

/** A short cause found in the native libraries' stderr warnings (a missing Vulkan/CUDA library), if any. */
function nativeCause(stderr: string): string | undefined {
  const lib = /cannot open shared object file|cannot load library|not found/i;
  for (const line of stderr.split('\n')) {
    const vk = /Couldn't load Vulkan:\s*([^:\s]+)/i.exec(line);
    if (vk) return `${vk[1]} is not installed`;
    const so = /([\w.+-]+\.so(?:\.\d+)*)\s*:\s*cannot open shared object file/.exec(line);
    if (so && lib.test(line)) return `${so[1]} is not installed`;
    const dll = /([\w.+-]+\.dll)/i.exec(line);
    if (dll && lib.test(line)) return `${dll[1]} could not be loaded`;
  }
  return undefined;
}

/**
 * `raw`: the error message onnxruntime threw; `stderr`: what the native code printed while it tried. Returns one
 * line of at most ~200 characters, e.g. "no Vulkan/Metal/D3D12 adapter found (libvulkan.so.1 is not installed)".
 */
export function shortProviderReason(name: string, raw: string, stderr = ''): string {
  const msg = stripOrtAssertion(raw);
  const cause = nativeCause(stderr);
  let text: string;
  if (name === 'webgpu' && /Failed to get a WebGPU adapter|No supported adapters|adapter/i.test(msg)) {
    text = 'no GPU adapter found for WebGPU (Vulkan, Metal or D3D12)';
  } else if (name === 'cuda' && /CUDA driver version is insufficient|no CUDA-capable device|cudaErrorNoDevice|CUDA failure 100/i.test(raw)) {
    text = 'no CUDA device or driver found';
  } else {
    text = msg || 'failed to initialise (no message)';
  }
  if (cause && !text.includes(cause)) text += ` (${cause})`;
  return text.length > 240 ? `${text.slice(0, 237)}…` : text;
}

/**
 * A message for the window: every line that carries an onnxruntime assertion (`file.cc:123 … was false. msg`) keeps
 * only its message; the other lines are kept. Never shows a C++ signature to the user.
 */
export function readableMessage(text: string): string {
  return text
    .split('\n')
    .filter((l) => !/^\s*at .*\.(?:cc|cpp|cu|h|hpp):\d+\)?\s*$/.test(l)) // a native stack line ("at operator() (…/x.cpp:364)")
    .map((l) => (/\S+\.(?:cc|cpp|cu|h|hpp):\d+\s/.test(l) ? stripOrtAssertion(l) : l))
    .filter((l) => l.trim())
    .join('\n');
}
