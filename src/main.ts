// `npm start`: one CTI node. Everything is composed in src/server.ts (startCti); this file only reads the
// environment, installs the signal handlers (SIGTERM/SIGINT → drain → exit) and reports start-up failures.
import { pino } from 'pino';
import { loadEnvOrExit } from './config/env.js';
import { startCti } from './server.js';
import { lifecycle } from './lifecycle.js';
import { requestRealtimePriority } from './lib/realtime-priority.js';

async function main(): Promise<void> {
  const env = loadEnvOrExit();
  const log = pino({ level: env.LOG_LEVEL });
  if (env.CPU_REALTIME_PRIORITY > 0) {
    // the event loop and V8's GC helpers; ffmpeg and threads started later keep normal scheduling
    const rt = await requestRealtimePriority(env.CPU_REALTIME_PRIORITY);
    if (rt.ok) log.info({ scheduling: rt.detail }, 'real-time CPU scheduling on');
    else log.warn({ reason: rt.detail }, 'CPU_REALTIME_PRIORITY could not be applied; running with normal scheduling');
  }
  const cti = await startCti(env, { log, lifecycle });
  lifecycle.installSignalHandlers({ timeoutMs: env.DRAIN_TIMEOUT_MS, log });
  log.info({ url: cti.url, startupMs: cti.startupMs, processUptimeMs: Math.round(process.uptime() * 1000) }, 'ready');
}

main().catch((err: unknown) => {
  pino().fatal({ err }, 'CTI node failed to start');
  process.exit(1);
});
