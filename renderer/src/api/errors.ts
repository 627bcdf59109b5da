import type { ErrorCode, ErrorPayload, ErrorReason } from '../../../main/api/contract';

/** An error from the engine (or the transport), with the contract's code and the engine's message. */
export class ApiError extends Error {
  readonly code: ErrorCode | 'DISCONNECTED';
  readonly details?: unknown;
  /** what exactly went wrong, where the window acts on it (main/api/errors.ts ERROR_REASONS) */
  readonly reason?: ErrorReason;
  constructor(payload: ErrorPayload | { code: 'DISCONNECTED'; message: string; details?: unknown }) {
    super(payload.message);
    this.name = 'ApiError';
    this.code = payload.code;
    this.details = payload.details;
    this.reason = 'reason' in payload ? payload.reason : undefined;
  }
}

/** A message fit for the UI from anything thrown. */
export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * An export refused because its file exists (reason FILE_EXISTS, main/base/output-file.ts): the window's own words
 * (it offers a Replace button, not the CLI's '--overwrite'); undefined for any other error.
 */
export function existsAlreadyText(err: unknown): string | undefined {
  if (!(err instanceof ApiError) || err.reason !== 'FILE_EXISTS') return undefined;
  const file = (err.details as { path?: unknown } | undefined)?.path;
  return `${typeof file === 'string' ? file : 'the file'} exists already: choose another name, or replace it`;
}
