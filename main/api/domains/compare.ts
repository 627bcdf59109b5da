import { z } from 'zod';
import type { SessionRun } from './sessions';
import type { ChartConfigResult } from './charts';

// Commands of the 'compare' domain (issue 18): runs of any session — the open one or any other file, e.g. from the
// recent list — side by side. A session that is not the open one is read read-only and closed again: comparing never
// writes to it, never upgrades it and never changes which session is open.

const filePath = z.string().min(1).max(4096);
const runId = z.string().min(1).max(300);

export const compareRequests = {
  /** the runs of a session file (top-level runs and sweep points), to pick from */
  'compare.sessionRuns': z.object({ session: filePath }).strict(),
  /** the picked runs, each named by its session file and id, with the overlaid per-layer chart */
  'compare.runs': z
    .object({
      runs: z.array(z.object({ session: filePath, id: runId }).strict()).min(1).max(12),
      /** on-screen magnification of the chart (1 = printed size in pt) */
      scale: z.number().min(0.5).max(4).optional(),
    })
    .strict(),
} satisfies Record<string, z.ZodType>;

/** One run as Compare shows it: its row in the session and the settings and figures the table lines up. */
export interface ComparedRun {
  session: string;
  sessionName: string;
  /** the session is the one open in the engine (else it was read read-only for this answer) */
  sessionOpen: boolean;
  run: SessionRun;
  /** a short name for the legend and the column head */
  label: string;
  tokens: number | null;
  seqLen: number | null;
  batch: number | null;
  /** provider and dtype of each measured phase ('dense: cpu/float32, …'), else the run's provider/dtype */
  phases: string | null;
  checkpointHash: string | null;
  datasetHash: string | null;
  /** sha256 of the run's content (the import's duplicate key) */
  contentHash: string;
  /** per-layer thresholds (batch means): how many layers, smallest, mean, largest */
  thresholds: { layers: number; min: number; mean: number; max: number } | null;
  perLayerActivation: number[] | null;
  perLayerThresholds: number[] | null;
  /** why the p% target was not met (the result's targetNotMet), null when it was or the run has none */
  targetNotMet: string | null;
}

export interface CompareResponses {
  'compare.sessionRuns': { session: string; name: string; open: boolean; runs: SessionRun[] };
  /** chart: activation ratio per layer (left axis) and thresholds per layer (right axis, plain lines) of every run
   * that has them; null with `chartNote` when none has */
  'compare.runs': { runs: ComparedRun[]; chart: ChartConfigResult | null; chartNote?: string };
}
