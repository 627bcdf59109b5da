import type { SessionChangedEvent } from './domains/sessions';
/** Events the engine pushes to the UI (over IPC or WebSocket). Each domain adds its own. */
export interface LogEvent {
  level: 'info' | 'warn' | 'error';
  message: string;
  at: string;
}


export interface Events {
  'session.changed': SessionChangedEvent;
  'engine.log': LogEvent;
  'job.progress': import('./domains/runs').JobProgressEvent;
  'job.finished': import('./domains/runs').JobFinishedEvent;
}
export type EventName = keyof Events;
