/**
 * The engine: one dispatcher for the whole contract. Transports (Electron IPC, WebSocket, CLI, tests)
 * hand it a command name and an untrusted payload; it validates the payload against the contract's
 * schema, runs the domain handler and returns a typed result or throws a LabError. It never crashes on
 * bad input.
 */
import os from 'node:os';
import path from 'node:path';
import { requestSchemas, type CommandName, type ParsedRequestOf, type ResponseOf } from '../api/contract';
import { LabError } from '../api/errors';
import type { EventName, Events } from '../api/events';
import type { EngineContext, EnginePaths, Logger } from './context';
import { allHandlers } from './handlers';
import { useHashMemo } from '../checkpoint/hash';

export type Handler<N extends CommandName> = (req: ParsedRequestOf<N>, ctx: EngineContext) => Promise<ResponseOf<N>> | ResponseOf<N>;
export type HandlerMap = { [N in CommandName]?: Handler<N> };

export type EventListener = <E extends EventName>(event: E, payload: Events[E]) => void;

export interface EngineOptions {
  paths?: Partial<EnginePaths>;
  host?: 'electron' | 'node';
  log?: Logger;
}

export function defaultPaths(): EnginePaths {
  const base = process.env.SPARSITY_LAB_HOME ?? path.join(os.homedir(), '.sparsity-lab');
  return { userData: base, cache: path.join(base, 'cache') };
}

const consoleLogger: Logger = {
  info: (m) => console.error(`[engine] ${m}`),
  warn: (m) => console.error(`[engine] warn: ${m}`),
  error: (m) => console.error(`[engine] error: ${m}`),
};

export class Engine {
  readonly ctx: EngineContext;
  private listeners = new Set<EventListener>();
  private handlers: HandlerMap;

  constructor(opts: EngineOptions = {}, handlers: HandlerMap = allHandlers) {
    const paths = { ...defaultPaths(), ...opts.paths };
    // checkpoint content hashes are remembered per file (validated by stat) so a reopen does not re-read the weights
    useHashMemo(path.join(paths.cache, 'hashes.json'));
    this.handlers = handlers;
    this.ctx = {
      paths,
      host: opts.host ?? 'node',
      log: opts.log ?? consoleLogger,
      emit: (event, payload) => {
        for (const l of this.listeners) {
          try {
            l(event, payload);
          } catch (err) {
            this.ctx.log.error(`event listener failed: ${(err as Error).message}`);
          }
        }
      },
      services: new Map(),
    };
  }

  onEvent(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Validates and runs one command. `cmd` and `payload` are untrusted. */
  async call(cmd: string, payload: unknown): Promise<unknown> {
    if (typeof cmd !== 'string' || !Object.prototype.hasOwnProperty.call(requestSchemas, cmd)) {
      throw new LabError('UNKNOWN_COMMAND', `Unknown command '${String(cmd).slice(0, 80)}'`);
    }
    const name = cmd as CommandName;
    const schema = requestSchemas[name];
    const parsed = schema.safeParse(payload ?? {});
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`);
      throw new LabError('BAD_REQUEST', `Invalid request for '${name}': ${issues.join('; ')}`, { issues });
    }
    const handler = this.handlers[name] as Handler<typeof name> | undefined;
    if (!handler) throw new LabError('UNSUPPORTED', `Command '${name}' is part of the contract but not implemented yet`);
    return handler(parsed.data as never, this.ctx);
  }

  /** Typed convenience for in-process callers (CLI, tests). */
  invoke<N extends CommandName>(cmd: N, payload: ParsedRequestOf<N>): Promise<ResponseOf<N>> {
    return this.call(cmd, payload) as Promise<ResponseOf<N>>;
  }

  /** Disposes every service (the open session is closed); one that fails does not keep the others open: the first error is thrown after all. */
  async dispose(): Promise<void> {
    let first: unknown;
    for (const [, svc] of this.ctx.services) {
      const d = (svc as { dispose?: () => unknown }).dispose;
      if (typeof d !== 'function') continue;
      try {
        await d.call(svc);
      } catch (e) {
        first ??= e;
      }
    }
    this.ctx.services.clear();
    if (first !== undefined) throw first;
  }
}
