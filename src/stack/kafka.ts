/** Apache Kafka 4.x as one KRaft node (combined broker + controller), replication factor 1 everywhere. */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceContext } from './context.js';
import { StackError } from './errors.js';
import { jvmFlags, type JavaRuntime } from './java.js';
import type { Jars } from './jars.js';
import { log4j2Properties, renderProperties } from './log4j.js';
import { HOST } from './ports.js';
import { probeKafka } from './probes.js';
import { runLogged, spawnLogged, type Spawned } from './process.js';
import type { KafkaInfo } from './types.js';
import { waitUntilReady } from './wait.js';

export interface KafkaOptions {
  port: number;
  controllerPort: number;
  java: JavaRuntime;
  jars: Jars;
  /** -Xmx (default 512m). */
  heap?: string;
  extraArgs?: string[];
  /** Called once the broker process runs (before it is ready). */
  onSpawned?: () => void;
  /** Extra listeners (ports already allocated). */
  extraListeners?: KafkaExtraListener[];
}

/**
 * An extra PLAINTEXT listener of the broker that advertises another address: clients that bootstrap
 * through a TCP proxy listening on `advertisedPort` (which forwards to `port`) are told to keep
 * using the proxy, so all their traffic crosses it (the fault tests cut and stall it).
 */
export interface KafkaExtraListener {
  /** Listener name: upper-case letters, digits, `_`; not PLAINTEXT or CONTROLLER. */
  name: string;
  /** Where the broker listens for it. */
  port: number;
  /** The port advertised to clients of this listener, on 127.0.0.1. */
  advertisedPort: number;
}

export function kafkaServerProperties(
  dataDir: string,
  port: number,
  controllerPort: number,
  extra: readonly KafkaExtraListener[] = [],
): Record<string, string | number | boolean> {
  for (const l of extra) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(l.name) || l.name === 'PLAINTEXT' || l.name === 'CONTROLLER') {
      throw new StackError(
        'STACK_START_FAILED',
        `kafka: extra listener name ${JSON.stringify(l.name)} must be upper-case letters, digits and _ (not PLAINTEXT or CONTROLLER)`,
        { service: 'kafka' },
      );
    }
  }
  return {
    'process.roles': 'broker,controller',
    'node.id': 1,
    'controller.quorum.voters': `1@${HOST}:${controllerPort}`,
    listeners: [
      `PLAINTEXT://${HOST}:${port}`,
      `CONTROLLER://${HOST}:${controllerPort}`,
      ...extra.map((l) => `${l.name}://${HOST}:${l.port}`),
    ].join(','),
    'advertised.listeners': [`PLAINTEXT://${HOST}:${port}`, ...extra.map((l) => `${l.name}://${HOST}:${l.advertisedPort}`)].join(','),
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': ['PLAINTEXT:PLAINTEXT', 'CONTROLLER:PLAINTEXT', ...extra.map((l) => `${l.name}:PLAINTEXT`)].join(','),
    'log.dirs': dataDir,
    'num.partitions': 1,
    'auto.create.topics.enable': true,
    'default.replication.factor': 1,
    'min.insync.replicas': 1,
    'offsets.topic.replication.factor': 1,
    'offsets.topic.num.partitions': 5,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'transaction.state.log.num.partitions': 5,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    'group.initial.rebalance.delay.ms': 0,
    'num.network.threads': 2,
    'num.io.threads': 4,
    'log.retention.hours': -1,
    'log.segment.bytes': 64 * 1024 * 1024,
  };
}

/** A KRaft cluster id: 16 random bytes, base64url without padding, not starting with '-'. */
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

export async function startKafka(ctx: ServiceContext, opts: KafkaOptions): Promise<{ info: KafkaInfo; proc: Spawned }> {
  const home = join(ctx.dir, 'kafka');
  const data = join(home, 'data');
  mkdirSync(data, { recursive: true });
  const serverProps = join(home, 'server.properties');
  const log4j = join(home, 'log4j2.properties');
  writeFileSync(serverProps, renderProperties(kafkaServerProperties(data, opts.port, opts.controllerPort, opts.extraListeners ?? [])));
  writeFileSync(log4j, log4j2Properties({ 'kafka.request.logger': 'WARN', 'state.change.logger': 'WARN', 'kafka.controller': 'INFO' }));
  const common = [
    ...jvmFlags(opts.heap ?? '512m'),
    `-Dlog4j2.configurationFile=${log4j}`,
    `-Dkafka.logs.dir=${home}`,
    '-cp',
    opts.jars.kafkaClasspath,
  ];

  ctx.log('kafka: formatting KRaft storage');
  await runLogged(
    {
      name: 'kafka',
      command: opts.java.path,
      args: [
        // a short-lived tool: small heap, C1 only
        '-Xmx256m',
        '-XX:TieredStopAtLevel=1',
        '-XX:+UseSerialGC',
        `-Dlog4j2.configurationFile=${log4j}`,
        '-cp',
        opts.jars.kafkaClasspath,
        'kafka.tools.StorageTool',
        'format',
        '--cluster-id',
        newClusterId(),
        '--config',
        serverProps,
      ],
      logFile: join(ctx.logDir, 'kafka-format.log'),
      cwd: home,
    },
    ctx.timeoutMs,
  );
  const proc = await spawnLogged({
    name: 'kafka',
    command: opts.java.path,
    args: [...common, ...(opts.extraArgs ?? []), 'kafka.Kafka', serverProps],
    logFile: join(ctx.logDir, 'kafka.log'),
    cwd: home,
  });
  ctx.track(proc);
  opts.onSpawned?.();
  const info: KafkaInfo = {
    brokers: [`${HOST}:${opts.port}`],
    controllerPort: opts.controllerPort,
    ...(opts.extraListeners?.length
      ? { extraListeners: Object.fromEntries(opts.extraListeners.map((l) => [l.name, { port: l.port, advertisedPort: l.advertisedPort }])) }
      : {}),
  };
  await waitUntilReady(proc, {
    probe: () => probeKafka(info.brokers),
    what: `describeCluster on ${info.brokers.join(',')}`,
    timeoutMs: ctx.timeoutMs,
    signal: ctx.signal,
    intervalMs: 500,
  });
  return { info, proc };
}
