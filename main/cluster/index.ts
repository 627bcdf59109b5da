/** Measurement series and sweeps on a Slurm cluster (issue 20): see main/cluster/README.md. */
export { collect, status, resolveArray, slurmTasks } from './collect';
export { readManifest, logTail, taskDir, type Manifest, type TaskSpec } from './manifest';
export { listArrays, findArray, markCancelled, taskRecords, recordArray as recordArrayOf } from './records';
export { jobScript } from './script';
export { findOnPath, scancel, sbatch, squeue, sacct } from './slurm';
export { submit, mapPaths, makeManifest, writeResultsFolder, defaultResultsDir, defaultEngineCommand, type SlurmProfile } from './submit';
export { runTask, type MeasureFn } from './task';
export { seriesTasks, sweepTasks, sweepFromSpec, readSweepSpec, FORWARDED_FLAGS, type MeasureFlags, type SeriesPoint } from './tasks';
