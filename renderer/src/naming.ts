/**
 * The load-checkpoint wizard's pre-fills (issue 7) come from the one folder-name parser that the CLI and the engine
 * use too (common/naming.ts): step, tokens trained and model size; what a name does not say stays unknown.
 */
export { baseName, distinctNames, formatTokens, guessSeries, loneSeries, parentName, parseCheckpointName as parseName, parseTokens } from '../../common/naming';
export type { NameInfo as ParsedName } from '../../common/naming';
