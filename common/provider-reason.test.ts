// The measure wizard's messages never show an onnxruntime assertion or a native stack line (issue 18).
import { expect, test } from 'vitest';
import { readableMessage } from './provider-reason';

test('an error carrying an ORT assertion and a Dawn stack line reads as its message alone', () => {
  const raw =
    "webgpu: /onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:100 onnxruntime::webgpu::WebGpuContext::Initialize(const onnxruntime::webgpu::WebGpuContextConfig&)::<lambda()> adapter_result.status == wgpu::RequestAdapterStatus::Success was false. Failed to get a WebGPU adapter: No supported adapters\n" +
    '    at operator() (/build/Release/_deps/dawn-src/src/dawn/native/vulkan/BackendVk.cpp:364)';
  const r = readableMessage(raw);
  expect(r).toBe('Failed to get a WebGPU adapter: No supported adapters');
  expect(r).not.toMatch(/operator\(\)|onnxruntime_src|::|was false/);
});

test('plain messages pass unchanged', () => {
  expect(readableMessage('sequence length 512 is longer than the context of m (max 256)')).toBe('sequence length 512 is longer than the context of m (max 256)');
  expect(readableMessage('line one\nline two')).toBe('line one\nline two');
});
