export { SessionStore, type RunRow, type CheckpointRow, type RunFilter } from './session';
export { importRuns, exportRun, runContentHash, openToRead } from './transfer';
export { sessionChartSource } from './chart-source';
export { recordMeasurement, type RecordCheckpoint } from './record';
export { relink, relinkFolder, rerunConfig } from './relink';
