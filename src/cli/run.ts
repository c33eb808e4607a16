import type { Command } from 'commander';
import { loadConfig } from '../ops/config.js';
import { createLogger } from '../ops/logger.js';
import { startBridge } from '../service/bridge.js';

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('run the bridge service: ingest and/or projections from a config file (SIGTERM drains)')
    .requiredOption('--config <file>', 'JSON config file (see docs/configuration.md)')
    .action(async (opts: { config: string }) => {
      const cfg = loadConfig(opts.config);
      const logger = createLogger();
      const bridge = await startBridge(cfg, logger);
      logger.info({ http: bridge.httpUrl, sources: cfg.sources.map((s) => s.name), targets: cfg.targets.map((t) => t.name) }, 'ulbridge running');
      await new Promise<void>((resolve) => {
        const onSignal = (signal: NodeJS.Signals): void => {
          logger.info({ signal }, 'signal received, draining');
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
          bridge.stop().then(resolve, (err: unknown) => {
            logger.error({ err }, 'drain failed');
            process.exitCode = 2;
            resolve();
          });
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
      });
    });
}
