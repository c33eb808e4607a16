import type { Kafka } from 'kafkajs';
import { SOURCE_NAME } from '../cdc/decoder.js';
import type { IngestMetrics } from '../ops/metricsRelay.js';
import type { Logger } from '../ops/logger.js';
import { UlbridgeError } from '../ops/errors.js';
import { releaseProfile, type ReleaseName } from '../opensips/releases.js';
import { isValidTimeZone } from '../cdc/time.js';

/** One legacy location table, as Debezium publishes it. */
export interface IngestSourceConfig {
  /** Source name: prefixes every log key (`<name>:<rowKey>`). */
  name: string;
  release: ReleaseName;
  /** The Debezium topic of the table, e.g. `legacy.public.location`. */
  topic: string;
  /** IANA zone of the source registrar, for DATETIME columns. Default 'UTC'. */
  timeZone?: string;
  /** Registrar `case_sensitive`. Default false (user parts are lower-cased). */
  caseSensitive?: boolean;
}

export interface IngestLogConfig {
  topic: string;
  partitions: number;
  deadLetterTopic: string;
}

export interface IngestOptions {
  kafka: Kafka;
  source: IngestSourceConfig;
  log: IngestLogConfig;
  groupId: string;
  /** Kafka group session timeout (config kafka.sessionTimeoutSeconds; default 30). */
  sessionTimeoutSeconds?: number;
  logger: Logger;
  /** The process's Metrics, or in the ingest's worker thread the relay to them. */
  metrics: IngestMetrics;
  /** Records per produce request and offset commit within a fetched batch. Default 1000. */
  maxRecordsPerSend?: number;
}

export type CompiledSource = Required<IngestSourceConfig>;

export interface CompiledIngestOptions extends Omit<IngestOptions, 'source' | 'maxRecordsPerSend'> {
  source: CompiledSource;
  maxRecordsPerSend: number;
}

/** Validates options once, at the edge; throws UlbridgeError('CONFIG_INVALID' | 'UNKNOWN_RELEASE'). */
export function compileIngestOptions(opts: IngestOptions): CompiledIngestOptions {
  const s = opts.source;
  const bad = (msg: string): never => {
    throw new UlbridgeError('CONFIG_INVALID', `ingest source "${s.name}": ${msg}`);
  };
  if (!SOURCE_NAME.test(s.name)) bad(`the name must be letters, digits, '.', '_' or '-' (it prefixes every log key)`);
  releaseProfile(s.release);
  if (!s.topic) bad('topic (the Debezium topic of the table) is empty');
  const timeZone = s.timeZone ?? 'UTC';
  if (!isValidTimeZone(timeZone)) bad(`time zone "${timeZone}" is not an IANA zone name (e.g. UTC, Europe/Berlin)`);
  const { topic, partitions, deadLetterTopic } = opts.log;
  if (!topic) bad('log.topic is empty');
  if (!deadLetterTopic) bad('log.deadLetterTopic is empty');
  if (topic === deadLetterTopic) bad(`log.deadLetterTopic must differ from log.topic "${topic}"`);
  if (topic === s.topic || deadLetterTopic === s.topic) bad(`the Debezium topic "${s.topic}" cannot also be the log or dead-letter topic`);
  if (!Number.isInteger(partitions) || partitions < 1) bad(`log.partitions must be a positive integer, got ${partitions}`);
  if (!opts.groupId) bad('groupId is empty');
  const maxRecordsPerSend = opts.maxRecordsPerSend ?? 1000;
  if (!Number.isInteger(maxRecordsPerSend) || maxRecordsPerSend < 1)
    bad(`maxRecordsPerSend must be a positive integer, got ${maxRecordsPerSend}`);
  return {
    ...opts,
    source: { name: s.name, release: s.release, topic: s.topic, timeZone, caseSensitive: s.caseSensitive ?? false },
    maxRecordsPerSend,
  };
}
