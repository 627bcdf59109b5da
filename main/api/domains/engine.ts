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
  /** the session the lab starts in (the window opens it): the demo lab on the first start, else the last one open */
  'sessions.startup': z.object({}).strict(),
};

export interface StartSession {
  /** null: none to open (the demo is not built, or no recent session exists any more) */
  path: string | null;
  /** no session was ever opened here: the window shows this one's session view, not Home */
  firstStart: boolean;
  message: string;
}

export interface EngineResponses {
  'engine.info': EngineInfo;
  'sessions.recent': RecentSession[];
  'sessions.startup': StartSession;
}
