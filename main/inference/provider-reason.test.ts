// The provider failure line users see, from the raw text onnxruntime-node 1.29 and Dawn print on a Linux machine
// without a GPU or Vulkan loader (captured verbatim from `sparsity-lab info --verbose` on the CI image).
import { describe, expect, it } from 'vitest';
import { shortProviderReason, stripOrtAssertion } from './provider-reason';

const WEBGPU_RAW = "/onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:100 onnxruntime::webgpu::WebGpuContext::Initialize(const onnxruntime::webgpu::WebGpuContextConfig&)::<lambda()> adapter_result.status == wgpu::RequestAdapterStatus::Success was false. Failed to get a WebGPU adapter: No supported adapters";
const DAWN_STDERR = "Warning: Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file: No such file or directory\n    at operator() (/build/Release/_deps/dawn-src/src/dawn/native/vulkan/BackendVk.cpp:364)\n";

describe('shortProviderReason', () => {
  it('turns the WebGPU adapter assertion and the Dawn warning into one readable line', () => {
    const r = shortProviderReason('webgpu', WEBGPU_RAW, DAWN_STDERR);
    expect(r).toBe('no GPU adapter found for WebGPU (Vulkan, Metal or D3D12) (libvulkan.so.1 is not installed)');
    expect(r).not.toMatch(/operator\(\)|onnxruntime_src|::|was false|\n/);
  });
  it('without the native warning, gives the adapter cause alone', () => {
    expect(shortProviderReason('webgpu', WEBGPU_RAW)).toBe('no GPU adapter found for WebGPU (Vulkan, Metal or D3D12)');
  });
  it('strips the source location, signature and failed condition of any ORT assertion, keeping the message', () => {
    expect(stripOrtAssertion(WEBGPU_RAW)).toBe('Failed to get a WebGPU adapter: No supported adapters');
    const other = '/onnxruntime_src/onnxruntime/core/session/inference_session.cc:2236 onnxruntime::InferenceSession::Initialize() Some node could not be placed on the provider';
    expect(stripOrtAssertion(other)).toBe('Some node could not be placed on the provider');
    expect(shortProviderReason('cuda', other)).toBe('Some node could not be placed on the provider');
  });
  it('keeps a plain message as it is, one line, bounded', () => {
    expect(shortProviderReason('cpu', 'wrong result from a trivial Add: 1,1\nsecond line')).toBe('wrong result from a trivial Add: 1,1');
    expect(shortProviderReason('webgpu', 'x'.repeat(1000)).length).toBeLessThanOrEqual(240);
    expect(shortProviderReason('cuda', '')).toBe('failed to initialise (no message)');
  });
});
