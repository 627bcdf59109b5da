/** Cancellation and progress for long measurements (issue 4 "Jobs"); checked between forward calls. */
import { LabError } from '../api/errors';
import type { JobProgressEvent } from '../api/domains/runs';

/** What a job reports: the contract's progress event without the job id (the job runner adds it). */
export type Progress = Omit<JobProgressEvent, 'id'>;

export interface RunControl {
  signal?: AbortSignal;
  progress?: (p: Progress) => void;
}

/** Counts forward passes and tokens, times phases, and raises CANCELLED as soon as the signal fires. */
export class Meter {
  forwardPasses = 0;
  tokens = 0;
  readonly phaseMs: Record<string, number> = {};
  private readonly t0 = performance.now();
  private phaseStart = performance.now();
  private phase = 'start';
  private stepsDone = 0;
  private stepsTotal = 1;

  constructor(private readonly ctl: RunControl = {}) {}

  /** the job's cancel (reads that can stop between pieces take it) */
  get signal(): AbortSignal | undefined {
    return this.ctl.signal;
  }

  check(): void {
    if (this.ctl.signal?.aborted) throw new LabError('CANCELLED', 'the measurement was cancelled');
  }

  enter(phase: string, steps: number): void {
    this.closePhase();
    this.phase = phase;
    this.stepsDone = 0;
    this.stepsTotal = Math.max(1, steps);
    this.phaseStart = performance.now();
    this.emit();
  }

  /** Called after each forward pass. */
  pass(tokens: number): void {
    this.forwardPasses++;
    this.tokens += tokens;
    this.check();
  }

  step(message?: string): void {
    this.stepsDone++;
    this.emit(message);
    this.check();
  }

  private emit(message?: string): void {
    if (!this.ctl.progress) return;
    const sec = (performance.now() - this.t0) / 1000;
    const inPhase = (performance.now() - this.phaseStart) / 1000;
    const eta = this.stepsDone > 0 ? (inPhase / this.stepsDone) * (this.stepsTotal - this.stepsDone) : null;
    this.ctl.progress({ phase: this.phase, step: this.stepsDone, of: this.stepsTotal, tokensPerSec: sec > 0 ? this.tokens / sec : 0, etaSec: eta, message });
  }

  closePhase(): void {
    const ms = performance.now() - this.phaseStart;
    if (this.phase !== 'start') this.phaseMs[this.phase] = (this.phaseMs[this.phase] ?? 0) + ms;
    this.phaseStart = performance.now();
  }

  totalMs(): number {
    return performance.now() - this.t0;
  }
}
