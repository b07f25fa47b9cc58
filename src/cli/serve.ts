import { loadConfig } from '../config.js';
import { createLogger, type Logger } from '../platform/observability/logger.js';
import { startServer } from '../server.js';

/** Buffered log lines reach stdout before the process ends. */
function exitAfterFlush(logger: Logger, code: number): void {
  logger.flush(() => process.exit(code));
}

/** `iris serve`: the API server, in the foreground until SIGTERM/SIGINT. */
export async function serve(options: Parameters<typeof startServer>[2] = {}): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const server = await startServer(config, logger, options);
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'shutting down');
    server
      .stop()
      .then((clean) => {
        if (!clean)
          logger.error({ timeoutMs: config.http.shutdownTimeoutMs }, 'shutdown did not finish in time');
        exitAfterFlush(logger, clean ? 0 : 1);
      })
      .catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        exitAfterFlush(logger, 1);
      });
  };
  // Listening before the announcement: a SIGTERM without a listener kills the process at once,
  // so one sent as soon as "serving" appeared could skip the graceful stop.
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  logger.info({ url: server.url, mode: server.runtime.database.mode, env: config.env }, 'server listening');
  process.stdout.write(
    `IRIS Health is serving at ${server.url}\n  API docs: ${server.url}/docs\n  FHIR base: ${server.url}/fhir\n`,
  );
}
