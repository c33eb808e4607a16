/** Kafka Connect in distributed mode (one worker), with the Debezium plugins on plugin.path. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceContext } from './context.js';
import { StackError, formatCommand } from './errors.js';
import { jvmFlags, type JavaRuntime } from './java.js';
import type { Jars } from './jars.js';
import { log4j2Properties, renderProperties } from './log4j.js';
import { HOST } from './ports.js';
import { probeConnect } from './probes.js';
import { spawnLogged, tailSuffix, type Spawned } from './process.js';
import type { ConnectInfo } from './types.js';
import { waitUntilReady } from './wait.js';

export interface ConnectOptions {
  port: number;
  brokers: string[];
  java: JavaRuntime;
  jars: Jars;
  /** -Xmx (default 768m). */
  heap?: string;
  extraArgs?: string[];
}

/** Connector classes that must be loadable once the worker is up. */
export const REQUIRED_PLUGINS = [
  'io.debezium.connector.postgresql.PostgresConnector',
  'io.debezium.connector.mariadb.MariaDbConnector',
  'io.debezium.connector.mysql.MySqlConnector',
];

export function connectWorkerProperties(brokers: string[], port: number, pluginPath: string): Record<string, string | number | boolean> {
  return {
    'bootstrap.servers': brokers.join(','),
    'group.id': 'ulbridge-connect',
    'config.storage.topic': 'ulbridge-connect-configs',
    'offset.storage.topic': 'ulbridge-connect-offsets',
    'status.storage.topic': 'ulbridge-connect-status',
    'config.storage.replication.factor': 1,
    'offset.storage.replication.factor': 1,
    'status.storage.replication.factor': 1,
    'offset.storage.partitions': 5,
    'status.storage.partitions': 1,
    // Worker defaults; every connector registered by connectors.ts sets its own converters.
    'key.converter': 'org.apache.kafka.connect.json.JsonConverter',
    'value.converter': 'org.apache.kafka.connect.json.JsonConverter',
    'key.converter.schemas.enable': false,
    'value.converter.schemas.enable': false,
    'offset.flush.interval.ms': 1000,
    listeners: `http://${HOST}:${port}`,
    'rest.advertised.host.name': HOST,
    'rest.advertised.port': port,
    'plugin.path': pluginPath,
    // Debezium and Kafka's own plugins ship ServiceLoader manifests: skip the slow reflective scan.
    'plugin.discovery': 'service_load',
    'topic.creation.enable': true,
    'scheduled.rebalance.max.delay.ms': 0,
    'task.shutdown.graceful.timeout.ms': 5000,
  };
}

async function missingPlugins(url: string): Promise<string[]> {
  const r = await fetch(`${url}/connector-plugins?connectorsOnly=true`, { signal: AbortSignal.timeout(10_000) });
  const list = (await r.json()) as Array<{ class: string }>;
  const have = new Set(list.map((p) => p.class));
  return REQUIRED_PLUGINS.filter((c) => !have.has(c));
}

export async function startConnect(ctx: ServiceContext, opts: ConnectOptions): Promise<{ info: ConnectInfo; proc: Spawned }> {
  const home = join(ctx.dir, 'connect');
  mkdirSync(home, { recursive: true });
  const props = join(home, 'connect-distributed.properties');
  const log4j = join(home, 'log4j2.properties');
  writeFileSync(props, renderProperties(connectWorkerProperties(opts.brokers, opts.port, opts.jars.pluginPath)));
  writeFileSync(log4j, log4j2Properties({ 'org.reflections': 'ERROR', 'org.apache.kafka.clients': 'WARN', 'org.eclipse.jetty': 'WARN' }));
  const proc = await spawnLogged({
    name: 'connect',
    command: opts.java.path,
    args: [
      ...jvmFlags(opts.heap ?? '768m'),
      `-Dlog4j2.configurationFile=${log4j}`,
      `-Dkafka.logs.dir=${home}`,
      '-cp',
      opts.jars.connectClasspath,
      ...(opts.extraArgs ?? []),
      'org.apache.kafka.connect.cli.ConnectDistributed',
      props,
    ],
    logFile: join(ctx.logDir, 'connect.log'),
    cwd: home,
  });
  ctx.track(proc);
  const info: ConnectInfo = { url: `http://${HOST}:${opts.port}` };
  await waitUntilReady(proc, {
    probe: () => probeConnect(info.url),
    what: `GET ${info.url}/health`,
    timeoutMs: ctx.timeoutMs,
    signal: ctx.signal,
    intervalMs: 500,
  });
  const missing = await missingPlugins(info.url);
  if (missing.length > 0) {
    throw new StackError(
      'STACK_START_FAILED',
      `connect is up but lacks the plugins ${missing.join(', ')} (plugin.path=${opts.jars.pluginPath}); ` +
        `delete that jar cache directory to refetch.\ncommand: ${formatCommand(proc.argv)}\nlog: ${proc.logFile}${tailSuffix(proc.logFile)}`,
      { service: 'connect', command: proc.argv, logFile: proc.logFile },
    );
  }
  return { info, proc };
}
