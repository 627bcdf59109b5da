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

/**
 * What exactly went wrong, where a caller acts on it (the app offers Replace for FILE_EXISTS and picks its advice by
 * the others): a fact carried beside the code, so no caller reads it out of the message, which is words for people.
 */
export const ERROR_REASONS = [
  'FILE_EXISTS', // an export's file exists and overwriting was not asked for (details: { path })
  'IS_FOLDER', // a file was asked for and the path is a folder
  'TEXT_FORMAT', // an evaluation text that is not UTF-8 text or JSON lines with a "text" field, or is empty
  'TEXT_TOO_SHORT', // an evaluation text with fewer tokens than the sequence length / token budget needs
  'TEXT_NO_KNOWN_TOKENS', // an evaluation text of which the model's tokenizer knows no token
] as const;
export type ErrorReason = (typeof ERROR_REASONS)[number];

export interface ErrorPayload {
  code: ErrorCode;
  message: string;
  details?: unknown;
  reason?: ErrorReason;
}

/** The one error type the engine throws on purpose. Anything else is reported as INTERNAL. */
export class LabError extends Error {
  readonly code: ErrorCode;
  readonly details?: unknown;
  readonly reason?: ErrorReason;
  constructor(code: ErrorCode, message: string, details?: unknown, reason?: ErrorReason) {
    super(message);
    this.name = 'LabError';
    this.code = code;
    this.details = details;
    this.reason = reason;
  }
  toPayload(): ErrorPayload {
    return {
      code: this.code,
      message: this.message,
      ...(this.details === undefined ? {} : { details: this.details }),
      ...(this.reason === undefined ? {} : { reason: this.reason }),
    };
  }
}

/**
 * The LabError a payload describes (the reverse of toPayload): how every error that crossed a worker's port or a
 * transport is rebuilt, so its code, message, details and reason all come through (a rebuild that dropped the reason
 * left the app without the advice it picks by it).
 */
export function labErrorFrom(p: ErrorPayload): LabError {
  return new LabError(p.code, p.message, p.details, p.reason);
}

export function toErrorPayload(err: unknown): ErrorPayload {
  if (err instanceof LabError) return err.toPayload();
  if (err && typeof err === 'object' && 'code' in err && 'message' in err) {
    const e = err as { code: unknown; message: unknown; reason?: unknown };
    if (typeof e.code === 'string' && (ERROR_CODES as readonly string[]).includes(e.code)) {
      const reason = (ERROR_REASONS as readonly unknown[]).includes(e.reason) ? { reason: e.reason as ErrorReason } : {};
      return { code: e.code as ErrorCode, message: String(e.message), ...reason };
    }
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'INTERNAL', message };
}

/**
 * The CLI's exit status for a measurement that completed and was recorded but whose p% target no CETT met
 * (the result carries `targetNotMet`): not 0, so scripts notice, and not a failure, so a cluster task still collects it.
 */
export const EXIT_TARGET_NOT_MET = 3;
