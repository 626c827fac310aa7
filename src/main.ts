// `npm start`: one CTI node. Everything is composed in src/server.ts (startCti); this file only reads the
// environment, installs the signal handlers (SIGTERM/SIGINT → drain → exit) and reports start-up failures.
import { pino } from 'pino';
import { loadEnvOrExit } from './config/env.js';
import { startCti } from './server.js';
import { lifecycle } from './lifecycle.js';

async function main(): Promise<void> {
  const env = loadEnvOrExit();
  const log = pino({ level: env.LOG_LEVEL });
  const cti = await startCti(env, { log, lifecycle });
  lifecycle.installSignalHandlers({ timeoutMs: env.DRAIN_TIMEOUT_MS, log });
  log.info({ url: cti.url, startupMs: cti.startupMs, processUptimeMs: Math.round(process.uptime() * 1000) }, 'ready');
}

main().catch((err: unknown) => {
  pino().fatal({ err }, 'CTI node failed to start');
  process.exit(1);
});
