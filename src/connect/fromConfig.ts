/**
 * The Debezium connectors a bridge config asks for: one per `sources[].capture` (the legacy table)
 * and one per `reverse[].capture` (the target table the new registrar writes), derived with the
 * one derivation in ./derive.ts.
 */
import type { CaptureConfig, Config } from '../ops/config.js';
import { UlbridgeError } from '../ops/errors.js';
import { connectorConfig, type ConnectorSpec } from './derive.js';
import { withoutPassword } from './secrets.js';

export interface Capture {
  /** `source` (sources[] entry) or `reverse` (reverse[] entry). */
  stage: 'source' | 'reverse';
  /** The sources[] or reverse[] entry's name. */
  pipeline: string;
  /** Its config key, for messages: `sources[0].capture`. */
  key: string;
  capture: CaptureConfig;
  /** What the connector is derived from: the URL without password, the password as a provider reference. */
  spec: ConnectorSpec;
  /** The change topic (equal to the entry's `topic`). */
  topic: string;
}

export function captureSpec(cfg: Config, c: CaptureConfig): ConnectorSpec {
  return {
    name: c.connector,
    kind: c.kind,
    url: withoutPassword(c.db),
    ...(c.password !== undefined ? { passwordRef: c.password } : {}),
    table: c.table,
    topicPrefix: c.topicPrefix,
    snapshotMode: c.snapshotMode,
    schemas: { value: c.valueSchemas },
    kafkaBrokers: cfg.connect?.kafkaBrokers ?? cfg.kafka.brokers,
    ...(c.serverId !== undefined ? { serverId: c.serverId } : {}),
    ...(c.slotName !== undefined ? { slotName: c.slotName } : {}),
    ...(c.publicationName !== undefined ? { publicationName: c.publicationName } : {}),
    config: { ...(c.heartbeatMs > 0 ? { 'heartbeat.interval.ms': String(c.heartbeatMs) } : {}), ...(c.config ?? {}) },
  };
}

/** Every capture of a config, sources first, in config order. */
export function configCaptures(cfg: Config): Capture[] {
  const out: Capture[] = [];
  cfg.sources.forEach((s, i) => {
    if (s.capture)
      out.push({
        stage: 'source',
        pipeline: s.name,
        key: `sources[${i}].capture`,
        capture: s.capture,
        spec: captureSpec(cfg, s.capture),
        topic: s.topic,
      });
  });
  cfg.reverse.forEach((r, i) => {
    if (r.capture)
      out.push({
        stage: 'reverse',
        pipeline: r.name,
        key: `reverse[${i}].capture`,
        capture: r.capture,
        spec: captureSpec(cfg, r.capture),
        topic: r.topic,
      });
  });
  return out;
}

/** The Connect configuration of one capture; a spec it cannot derive is CONFIG_INVALID naming the key. */
export function captureConnectorConfig(c: Capture): Record<string, string> {
  try {
    return connectorConfig(c.spec);
  } catch (e) {
    throw new UlbridgeError('CONFIG_INVALID', `config ${c.key}: ${(e as Error).message}`);
  }
}

/** The Connect configuration of each capture (what `connect plan` prints and `apply` PUTs). */
export function planConnectors(
  cfg: Config,
): Array<{ name: string; stage: Capture['stage']; pipeline: string; topic: string; config: Record<string, string> }> {
  return configCaptures(cfg).map((c) => ({
    name: c.spec.name,
    stage: c.stage,
    pipeline: c.pipeline,
    topic: c.topic,
    config: captureConnectorConfig(c),
  }));
}

/** connect.url, or --connect; an error naming both when neither is given. */
export function connectUrlOf(cfg: Config, override?: string): string {
  const url = override ?? cfg.connect?.url;
  if (!url) throw new UlbridgeError('CONFIG_INVALID', 'config connect.url: is missing (or pass --connect URL)');
  if (!/^https?:\/\/\S+$/.test(url))
    throw new UlbridgeError('BAD_CONNECT_URL', `--connect must be an http:// or https:// URL, got "${url}"`);
  return url.replace(/\/+$/, '');
}
