import type { ErrorCode, ErrorPayload } from '../../../main/api/contract';

/** An error from the engine (or the transport), with the contract's code and the engine's message. */
export class ApiError extends Error {
  readonly code: ErrorCode | 'DISCONNECTED';
  readonly details?: unknown;
  constructor(payload: ErrorPayload | { code: 'DISCONNECTED'; message: string; details?: unknown }) {
    super(payload.message);
    this.name = 'ApiError';
    this.code = payload.code;
    this.details = payload.details;
  }
}

/** A message fit for the UI from anything thrown. */
export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** True when the engine says the command exists in the contract but nobody has implemented it yet. */
export function isNotBuilt(err: unknown): boolean {
  return err instanceof ApiError && (err.code === 'UNSUPPORTED' || err.code === 'UNKNOWN_COMMAND') && /not implemented|Unknown command/.test(err.message);
}

/**
 * An export refused because its file exists (main/base/output-file.ts): the message without the CLI's hint (the app
 * offers a Replace button instead of '--overwrite'); undefined for any other error.
 */
export function existsAlreadyText(err: unknown): string | undefined {
  const text = errorText(err);
  return /exists already/.test(text) ? text.replace(/,? or ask to overwrite it \(CLI: --overwrite\)/, '') : undefined;
}
