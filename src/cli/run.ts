import type { Command } from 'commander';
import { loadConfig } from '../ops/config.js';
import { limitHeapGrowth } from '../ops/heap.js';
import { isStoppedError } from '../ops/lifecycle.js';
import { createLogger } from '../ops/logger.js';
import { createBridge } from '../service/bridge.js';

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('run the bridge service: ingest, projections and reverse syncs from a config file (SIGTERM drains)')
    .requiredOption('--config <file>', 'JSON config file (see docs/configuration.md)')
    .action(async (opts: { config: string }) => {
      const cfg = loadConfig(opts.config);
      limitHeapGrowth();
      const logger = createLogger();
      const bridge = createBridge(cfg, logger);
      // Signals are handled from the first moment: a SIGTERM while starting (waiting for a topic,
      // joining a group, mid-snapshot) drains what has started and exits 0, like one while running.
      let signalled = false;
      const drained = new Promise<void>((resolve) => {
        const onSignal = (signal: NodeJS.Signals): void => {
          signalled = true;
          logger.info({ signal, state: bridge.state }, 'signal received, draining');
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
      try {
        await bridge.start();
      } catch (e) {
        if (signalled && isStoppedError(e)) {
          await drained;
          return;
        }
        // A failed start has released what it opened; the error is the one line the CLI prints.
        await bridge.stop();
        throw e;
      }
      logger.info(
        { http: bridge.httpUrl, sources: cfg.sources.map((s) => s.name), targets: cfg.targets.map((t) => t.name) },
        'ulbridge running',
      );
      await drained;
    });
}
