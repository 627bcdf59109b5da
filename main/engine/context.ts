import type { EventName, Events } from '../api/events';

/** Where the engine keeps app-level state (recent sessions, settings) and caches (built graphs). */
export interface EnginePaths {
  userData: string;
  cache: string;
}

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** What every command handler receives besides its validated request. */
export interface EngineContext {
  paths: EnginePaths;
  host: 'electron' | 'node';
  log: Logger;
  emit<E extends EventName>(event: E, payload: Events[E]): void;
  /** Per-engine singletons owned by the domains (open session, job queue, ...), keyed by domain. */
  services: Map<string, unknown>;
}
