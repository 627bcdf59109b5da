/**
 * The one typed contract between the UI (renderer, CLI, tests) and the engine. Each command is
 * `domain.verb`, with a zod schema for its request (validated by every transport before the engine sees
 * it) and a TypeScript type for its response. The renderer imports types from here only (lint-enforced).
 */
import type { z } from 'zod';
import { engineRequests, type EngineResponses } from './domains/engine';
import { checkpointsRequests, type CheckpointsResponses } from './domains/checkpoints';
import { runsRequests, type RunsResponses } from './domains/runs';
import { sessionsRequests, type SessionsResponses } from './domains/sessions';
import { lawsRequests, type LawsResponses } from './domains/laws';
import { chartsRequests, type ChartsResponses } from './domains/charts';
import { filesRequests, type FilesResponses } from './domains/files';
import { clusterRequests, type ClusterResponses } from './domains/cluster';
import { compareRequests, type CompareResponses } from './domains/compare';

export const requestSchemas = {
  ...engineRequests,
  ...checkpointsRequests,
  ...runsRequests,
  ...sessionsRequests,
  ...lawsRequests,
  ...chartsRequests,
  ...filesRequests,
  ...clusterRequests,
  ...compareRequests,
};

export interface Responses
  extends EngineResponses,
    CheckpointsResponses,
    RunsResponses,
    SessionsResponses,
    LawsResponses,
    ChartsResponses,
    FilesResponses,
    ClusterResponses,
    CompareResponses {}

export type CommandName = keyof typeof requestSchemas & keyof Responses;
export type RequestOf<N extends CommandName> = z.input<(typeof requestSchemas)[N]>;
export type ParsedRequestOf<N extends CommandName> = z.output<(typeof requestSchemas)[N]>;
export type ResponseOf<N extends CommandName> = Responses[N];

export const COMMAND_NAMES = Object.keys(requestSchemas) as CommandName[];

/** Wire format shared by the WebSocket transport (IPC uses invoke/handle with the same shapes). */
export interface WireRequest {
  id: number;
  cmd: string;
  payload: unknown;
}
export type WireResponse =
  | { id: number | null; ok: true; result: unknown }
  | { id: number | null; ok: false; error: import('./errors').ErrorPayload };
export interface WireEvent {
  event: string;
  payload: unknown;
}

export type { ErrorCode, ErrorPayload, ErrorReason } from './errors';
export type { Events, EventName } from './events';
export type * from './domains/engine';
export type * from './domains/checkpoints';
export type * from './domains/runs';
export type * from './domains/sessions';
export type * from './domains/laws';
export type * from './domains/charts';
export type * from './domains/files';
export type * from './domains/cluster';
export type * from './domains/compare';
