import os from 'node:os';
import type { HandlerMap } from '../engine';
import { probeProviders, onnxruntimeVersion } from '../../inference/providers';
import { APP_VERSION } from '../../base/version';
import { readRecent, startSession } from '../recent';

export const engineHandlers: HandlerMap = {
  'engine.info': async (req, ctx) => ({
    appVersion: APP_VERSION,
    onnxruntimeVersion,
    nodeVersion: process.versions.node,
    platform: process.platform,
    arch: process.arch,
    cpus: os.cpus().length,
    totalMemoryBytes: os.totalmem(),
    providers: await probeProviders(req.refresh ?? false),
    host: ctx.host,
  }),
  'sessions.recent': (_req, ctx) => readRecent(ctx.paths.userData),
  'sessions.startup': (_req, ctx) => startSession(ctx.paths.userData),
};
