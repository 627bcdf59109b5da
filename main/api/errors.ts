/**
 * Error codes of the contract. Every failure that crosses a transport (IPC, WebSocket, CLI) carries one
 * of these, a human message that names the file/field at fault, and optional details.
 */
export const ERROR_CODES = [
  'BAD_REQUEST', // payload failed schema validation
  'UNKNOWN_COMMAND',
  'UNAUTHORIZED', // missing/wrong per-launch token, or an IPC sender that is not our window
  'NOT_FOUND',
  'BAD_CHECKPOINT', // a checkpoint file/folder that cannot be read as a model
  'BAD_DATA', // evaluation text, points file, ... that cannot be used
  'UNSUPPORTED', // valid input the engine cannot handle (e.g. an unknown architecture)
  'CANCELLED',
  'SESSION_ERROR', // session file damaged, not SQLite, ...
  'READ_ONLY', // session from a newer app version, opened read-only
  'BUSY',
  'CLUSTER_ERROR', // a Slurm command (sbatch, squeue, scancel) refused or failed: the message carries its words
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorPayload {
  code: ErrorCode;
  message: string;
  details?: unknown;
}

/** The one error type the engine throws on purpose. Anything else is reported as INTERNAL. */
export class LabError extends Error {
  readonly code: ErrorCode;
  readonly details?: unknown;
  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(message);
    this.name = 'LabError';
    this.code = code;
    this.details = details;
  }
  toPayload(): ErrorPayload {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export function toErrorPayload(err: unknown): ErrorPayload {
  if (err instanceof LabError) return err.toPayload();
  if (err && typeof err === 'object' && 'code' in err && 'message' in err) {
    const e = err as { code: unknown; message: unknown };
    if (typeof e.code === 'string' && (ERROR_CODES as readonly string[]).includes(e.code))
      return { code: e.code as ErrorCode, message: String(e.message) };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'INTERNAL', message };
}

/**
 * The CLI's exit status for a measurement that completed and was recorded but whose p% target no CETT met
 * (the result carries `targetNotMet`): not 0, so scripts notice, and not a failure, so a cluster task still collects it.
 */
export const EXIT_TARGET_NOT_MET = 3;
