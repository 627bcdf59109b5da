import type { Engine } from '../engine/engine';
import { infoCommand } from './info';
import { measureCommand, measureSeriesCommand } from './measure';
import { exportCommand } from './export';
import { inspectCommand } from './inspect';
import { runsCommand } from './runs';
import { fitCommand } from './fit';
import { relinkCommand } from './relink';
import { clusterCommand } from './cluster';
import { exportThresholdsCommand } from './export-thresholds';

export interface CliCommand {
  summary: string;
  run(argv: string[], engine: Engine): Promise<number>;
}

/** Every CLI command. Each issue adds its own module (inspect, measure, runs, fit, export, ...). */
export const commands: Record<string, CliCommand> = {
  info: infoCommand,
  measure: measureCommand,
  'measure-series': measureSeriesCommand,
  export: exportCommand,
  inspect: inspectCommand,
  runs: runsCommand,
  fit: fitCommand,
  relink: relinkCommand,
  cluster: clusterCommand,
  'export-thresholds': exportThresholdsCommand,
};
