import { z } from 'zod';

/** One execution provider and whether it initialised on this machine (we actually try each). */
export interface ProviderStatus {
  name: 'cuda' | 'webgpu' | 'cpu';
  available: boolean;
  /** Why it failed to initialise, one readable line (onnxruntime's assertion text shortened to its cause). */
  reason?: string;
  /** The raw failure: onnxruntime's message and what the native libraries printed while trying (`info --verbose`). */
  details?: string;
  /** Time to create a trivial session on it, ms. */
  initMs?: number;
}

export interface EngineInfo {
  appVersion: string;
  onnxruntimeVersion: string;
  nodeVersion: string;
  platform: string;
  arch: string;
  cpus: number;
  totalMemoryBytes: number;
  providers: ProviderStatus[];
  /** 'electron' when the engine runs in Electron's utilityProcess, 'node' otherwise. */
  host: 'electron' | 'node';
}

export interface RecentSession {
  path: string;
  name: string;
  openedAt: string; // ISO 8601
  exists: boolean;
}

export const engineRequests = {
  'engine.info': z.object({ refresh: z.boolean().optional() }).strict(),
  'sessions.recent': z.object({}).strict(),
};

export interface EngineResponses {
  'engine.info': EngineInfo;
  'sessions.recent': RecentSession[];
}
