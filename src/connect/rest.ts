/** A small Kafka Connect REST client (PUT config, status, offsets), every call bounded in time. */
import { UlbridgeError, wrapError } from '../ops/errors.js';

export interface ConnectorState {
  connector: { state: string; worker_id?: string; trace?: string };
  tasks: Array<{ id: number; state: string; worker_id?: string; trace?: string }>;
}

export interface RestAnswer {
  status: number;
  json: unknown;
  text: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Kafka Connect answers a request it cannot serve while its workers rebalance (e.g. right after a
 * connector was created or deleted) with 409, or with 500 "... a rebalance is expected".
 */
export function isRebalanceAnswer(a: RestAnswer): boolean {
  return a.status === 409 || (a.status === 500 && /rebalance/i.test(a.text));
}

export class ConnectClient {
  constructor(
    readonly url: string,
    private readonly timeoutMs = 15_000,
    /** How long a request is repeated while Connect answers that it is rebalancing. */
    private readonly rebalanceWaitMs = 30_000,
  ) {}

  /** One REST call; repeated (every 500 ms, up to rebalanceWaitMs) while Connect rebalances. */
  async call(method: string, path: string, body?: unknown): Promise<RestAnswer> {
    const deadline = Date.now() + this.rebalanceWaitMs;
    for (;;) {
      const a = await this.callOnce(method, path, body);
      if (!isRebalanceAnswer(a) || Date.now() >= deadline) return a;
      await sleep(500);
    }
  }

  private async callOnce(method: string, path: string, body?: unknown): Promise<RestAnswer> {
    let r: Response;
    try {
      r = await fetch(`${this.url}${path}`, {
        method,
        headers: body === undefined ? { accept: 'application/json' } : { 'content-type': 'application/json', accept: 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      throw wrapError('CONNECT_UNREACHABLE', `Kafka Connect at ${this.url} does not answer (is it up? check connect.url or --connect)`, e);
    }
    const text = await r.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: r.status, json, text };
  }

  /** PUT /connectors/NAME/config (creates or updates); retries while the worker rebalances (409), up to the deadline. */
  async putConfig(name: string, config: Record<string, string>, deadline = Date.now() + 60_000): Promise<{ created: boolean }> {
    for (;;) {
      const r = await this.call('PUT', `/connectors/${encodeURIComponent(name)}/config`, config);
      if (r.status === 200 || r.status === 201) return { created: r.status === 201 };
      if (r.status !== 409 || Date.now() > deadline) {
        const why = await this.validationErrors(config);
        throw new UlbridgeError(
          'CONNECTOR_REJECTED',
          `connector ${name}: PUT ${this.url}/connectors/${name}/config answered ${r.status}: ${r.text.slice(0, 500)}${why ? `; validation: ${why}` : ''}`,
        );
      }
      await sleep(500);
    }
  }

  /** The current config of a connector, or null when Connect does not have it. */
  async getConfig(name: string): Promise<Record<string, string> | null> {
    const r = await this.call('GET', `/connectors/${encodeURIComponent(name)}/config`);
    if (r.status === 404) return null;
    if (r.status !== 200)
      throw new UlbridgeError('CONNECT_ERROR', `GET ${this.url}/connectors/${name}/config answered ${r.status}: ${r.text.slice(0, 300)}`);
    return r.json as Record<string, string>;
  }

  /** GET /connectors/NAME/status; null when the connector does not exist. */
  async status(name: string): Promise<ConnectorState | null> {
    const r = await this.call('GET', `/connectors/${encodeURIComponent(name)}/status`);
    if (r.status === 404) return null;
    if (r.status !== 200)
      throw new UlbridgeError('CONNECT_ERROR', `GET ${this.url}/connectors/${name}/status answered ${r.status}: ${r.text.slice(0, 300)}`);
    return r.json as ConnectorState;
  }

  /** GET /connectors/NAME/offsets (Connect 3.6+): the committed source offsets; null when absent. */
  async offsets(name: string): Promise<Array<{ partition: Record<string, unknown>; offset: Record<string, unknown> }> | null> {
    const r = await this.call('GET', `/connectors/${encodeURIComponent(name)}/offsets`);
    if (r.status === 404) return null;
    if (r.status !== 200)
      throw new UlbridgeError('CONNECT_ERROR', `GET ${this.url}/connectors/${name}/offsets answered ${r.status}: ${r.text.slice(0, 300)}`);
    return ((r.json as { offsets?: unknown[] })?.offsets ?? []) as Array<{
      partition: Record<string, unknown>;
      offset: Record<string, unknown>;
    }>;
  }

  /** Connect's config validation messages, '' if none or unavailable. */
  private async validationErrors(config: Record<string, string>): Promise<string> {
    try {
      const cls = config['connector.class']!.split('.').pop()!;
      const r = await this.call('PUT', `/connector-plugins/${cls}/config/validate`, config);
      const body = r.json as { configs?: Array<{ value?: { name: string; errors?: string[] } }> } | undefined;
      return (body?.configs ?? []).flatMap((c) => (c.value?.errors ?? []).map((e) => `${c.value!.name}: ${e}`)).join('; ');
    } catch {
      return '';
    }
  }
}
