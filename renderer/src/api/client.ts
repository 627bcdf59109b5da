/**
 * The typed client over whichever transport this window has. `api.call('engine.info', {})` resolves to
 * the contract's response type or throws an ApiError with the engine's code and message.
 */
import type { CommandName, EventName, Events, RequestOf, ResponseOf } from '../../../main/api/contract';
import { ApiError } from './errors';
import { bridgeTransport, websocketTransport, type ConnectionState, type Transport } from './transport';

export class ApiClient {
  constructor(readonly transport: Transport) {}

  async call<N extends CommandName>(cmd: N, payload: RequestOf<N>): Promise<ResponseOf<N>> {
    const r = await this.transport.send(cmd, payload);
    if (!r.ok) throw new ApiError(r.error);
    return r.result as ResponseOf<N>;
  }

  /** Untyped call, for commands that other engineers may not have added to the contract yet. */
  async callLoose(cmd: string, payload: unknown): Promise<unknown> {
    const r = await this.transport.send(cmd, payload);
    if (!r.ok) throw new ApiError(r.error);
    return r.result;
  }

  on<E extends EventName>(event: E, cb: (payload: Events[E]) => void): () => void {
    return this.transport.onEvent((name, payload) => {
      if (name === event) cb(payload as Events[E]);
    });
  }

  onAnyEvent(cb: (event: string, payload: unknown) => void): () => void {
    return this.transport.onEvent(cb);
  }

  onState(cb: (s: ConnectionState) => void): () => void {
    return this.transport.onState(cb);
  }

  get isElectron(): boolean {
    return this.transport.kind === 'electron';
  }
}

export const api = new ApiClient(typeof window !== 'undefined' && window.lab ? bridgeTransport() : websocketTransport());
export type { ConnectionState };
