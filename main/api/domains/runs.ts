import { z } from 'zod';

// Commands of the 'runs' domain: request schemas (validated by every transport) and response types.
// Filled in by the issue that builds this domain.

export const runsRequests = {} satisfies Record<string, z.ZodType>;

// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface RunsResponses {}
