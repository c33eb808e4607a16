/**
 * `ulbridge connect plan|apply|status --config FILE [--connect URL]`: the Debezium connectors of a
 * bridge config (every sources[].capture and reverse[].capture), derived from it.
 */
import type { Command } from 'commander';
import { applyConnectors, captureStatuses, planConnectors, type CaptureStatus } from '../connect/connect.js';
import { connectUrlOf } from '../connect/fromConfig.js';
import { loadConfig } from '../ops/config.js';
import { EXIT, UlbridgeError } from '../ops/errors.js';
import { formatTable, printJson, printLine } from './output.js';

interface ConnectCliOptions {
  config: string;
  connect?: string;
  json?: boolean;
  timeout?: string;
}

function seconds(raw: string | undefined, dflt: number): number {
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > 3600)
    throw new UlbridgeError('BAD_TIMEOUT', `--timeout must be an integer from 1 to 3600 seconds, got "${raw}"`);
  return n;
}

function loadWithCaptures(file: string): ReturnType<typeof loadConfig> {
  const cfg = loadConfig(file);
  if (!cfg.sources.some((s) => s.capture) && !cfg.reverse.some((r) => r.capture)) {
    throw new UlbridgeError(
      'CONFIG_INVALID',
      'config: no sources[].capture or reverse[].capture: nothing to derive a connector from (see docs/configuration.md#capture)',
    );
  }
  return cfg;
}

/** One line per connector: state, tasks, lag. */
export function renderCaptureTable(rows: CaptureStatus[]): string {
  return formatTable(
    ['CONNECTOR', 'STAGE', 'KIND', 'STATE', 'TASKS', 'DB POSITION', 'CONNECTOR POSITION', 'LAG BYTES'],
    rows.map((c) => [
      c.connector,
      `${c.stage} ${c.pipeline}`,
      c.kind,
      c.state,
      c.tasks.map((t) => `${t.id}:${t.state}`).join(',') || '-',
      c.databasePosition ?? '-',
      c.connectorPosition ?? '-',
      c.lagBytes ?? '-',
    ]),
  );
}

function withConnect(cmd: Command): Command {
  return cmd
    .requiredOption('--config <file>', 'the JSON config of ulbridge run (see docs/configuration.md)')
    .option('--connect <url>', 'Kafka Connect REST URL (default: connect.url of the config)')
    .option('--json', 'one JSON document');
}

export function registerConnectCommands(program: Command): void {
  const connect = program
    .command('connect')
    .description("the Debezium connectors of a config's sources[].capture and reverse[].capture (Kafka Connect)");

  connect
    .command('plan')
    .description('print the Kafka Connect configuration of every connector (passwords only as config provider references)')
    .requiredOption('--config <file>', 'the JSON config of ulbridge run (see docs/configuration.md)')
    .option('--json', 'one JSON document (the default output is JSON too, one object per connector)')
    .action((o: ConnectCliOptions) => {
      const cfg = loadWithCaptures(o.config);
      printJson({ connectors: planConnectors(cfg) });
    });

  withConnect(connect.command('apply'))
    .description(
      'create or update every connector (PUT /connectors/NAME/config), set REPLICA IDENTITY FULL on PostgreSQL tables, wait until they run',
    )
    .option('--timeout <seconds>', 'how long to wait until every connector and task is RUNNING', '120')
    .action(async (o: ConnectCliOptions) => {
      const cfg = loadWithCaptures(o.config);
      const url = connectUrlOf(cfg, o.connect);
      const results = await applyConnectors(cfg, url, { waitMs: seconds(o.timeout, 120) * 1000 });
      if (o.json) {
        printJson({ connect: url, connectors: results });
        return;
      }
      printLine(
        formatTable(
          ['CONNECTOR', 'STAGE', 'ACTION', 'REPLICA IDENTITY', 'STATE', 'TOPIC'],
          results.map((r) => [
            r.name,
            `${r.stage} ${r.pipeline}`,
            r.action,
            r.replicaIdentitySet === null ? '-' : r.replicaIdentitySet ? 'set FULL' : 'FULL already',
            `${r.state} (tasks ${r.tasks.map((t) => `${t.id}:${t.state}`).join(',')})`,
            r.topic,
          ]),
        ),
      );
    });

  withConnect(connect.command('status'))
    .description('connector and task states and lag behind the database (exit 0 all RUNNING, 1 otherwise)')
    .action(async (o: ConnectCliOptions) => {
      const cfg = loadWithCaptures(o.config);
      const url = connectUrlOf(cfg, o.connect);
      const rows = await captureStatuses(cfg, url);
      const allRunning = rows.every((r) => r.running);
      if (o.json) printJson({ connect: url, allRunning, connectors: rows });
      else {
        printLine(renderCaptureTable(rows));
        for (const r of rows) {
          if (r.trace) printLine(`${r.connector}: ${r.trace}`);
          if (r.problem) printLine(`${r.connector}: ${r.problem}`);
        }
      }
      process.exitCode = allRunning ? EXIT.ok : EXIT.findings;
    });
}
