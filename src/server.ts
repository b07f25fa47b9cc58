import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import type { Config } from './config.js';
import type { Logger } from './platform/observability/logger.js';
import { openRuntime, type Runtime, type RuntimeOptions } from './runtime.js';

export interface RunningServer {
  app: FastifyInstance;
  runtime: Runtime;
  url: string;
  /** Stops accepting, drains in-flight requests, closes the database; resolves true when clean. */
  stop(): Promise<boolean>;
}

/** Starts the HTTP server on the configured address with every module mounted. */
export async function startServer(
  config: Config,
  logger: Logger,
  options: Pick<RuntimeOptions, 'recordInto'> = {},
): Promise<RunningServer> {
  const runtime = await openRuntime(config, logger, {
    ...options,
    server: true,
    migrate: config.env !== 'production',
  });
  let app: FastifyInstance;
  try {
    app = await buildApp(runtime);
    await app.listen({
      host: config.http.host,
      port: config.http.port,
      listenTextResolver: (address) => `listening on ${address}`,
    });
  } catch (error) {
    await runtime.close();
    throw error;
  }
  // Embedded mode: the API process also delivers events and runs jobs (iris worker scales that out).
  if (config.embeddedWorker) await runtime.ctx.events.start('embedded');
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.http.port;
  const host = config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host;
  const url = `http://${host}:${port}`;

  let stopping: Promise<boolean> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), config.http.shutdownTimeoutMs);
      });
      const drain = (async () => {
        await app.close();
        await runtime.close();
        return true;
      })();
      const clean = await Promise.race([drain, deadline]);
      clearTimeout(timer);
      return clean;
    })();
    return stopping;
  };
  return { app, runtime, url, stop };
}
