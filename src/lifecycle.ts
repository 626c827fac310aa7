// Graceful drain. On SIGTERM (or SIGINT) the node stops taking new calls — modules consult `lifecycle.draining` —,
// waits for the onDrain hooks (e.g. "live calls reached zero") bounded by DRAIN_TIMEOUT_MS, then runs the onClose
// hooks (HTTP server, ESL, Redis, PostgreSQL) in reverse order of registration.
import type { Logger } from 'pino';
import { metrics } from './http/metrics.js';
import { withTimeout } from './lib/with-timeout.js';

export interface DrainContext {
  /** aborted when the drain deadline passes: hooks should stop waiting and return */
  signal: AbortSignal;
  deadline: Date;
}

type DrainHook = (ctx: DrainContext) => Promise<void> | void;
type CloseHook = () => Promise<void> | void;

/** each close hook gets this long, so one stuck resource can't keep the process alive */
const CLOSE_HOOK_TIMEOUT_MS = 5000;

export class Lifecycle {
  private drainingSince: Date | null = null;
  private readonly drainHooks: { name: string; fn: DrainHook }[] = [];
  private readonly closeHooks: { name: string; fn: CloseHook }[] = [];
  private shutdown: Promise<void> | null = null;
  private readonly drainListeners = new Set<() => void>();

  /** `reportMetric`: only the process-wide lifecycle sets the hotline_draining gauge */
  constructor(private readonly opts: { reportMetric?: boolean } = {}) {}

  /** true once draining started: don't accept new calls on this node (answer them elsewhere / let them fall back) */
  get draining(): boolean {
    return this.drainingSince !== null;
  }

  get drainStartedAt(): Date | null {
    return this.drainingSince;
  }

  /** Work to finish before closing, e.g. resolve when the last live call has ended. */
  onDrain(name: string, fn: DrainHook): () => void {
    const entry = { name, fn };
    this.drainHooks.push(entry);
    return () => removeFrom(this.drainHooks, entry);
  }

  /** Resource to release at the end; hooks run in reverse order (last opened, first closed). */
  onClose(name: string, fn: CloseHook): () => void {
    const entry = { name, fn };
    this.closeHooks.push(entry);
    return () => removeFrom(this.closeHooks, entry);
  }

  /** Synchronous notification the moment draining starts (e.g. to stop offering calls to this node). */
  onDrainStart(fn: () => void): () => void {
    this.drainListeners.add(fn);
    return () => void this.drainListeners.delete(fn);
  }

  /** Drain then close. Idempotent: a second call returns the same promise. */
  drainAndClose(opts: { timeoutMs: number; log?: Logger; reason?: string }): Promise<void> {
    this.shutdown ??= this.run(opts);
    return this.shutdown;
  }

  private async run({ timeoutMs, log, reason }: { timeoutMs: number; log?: Logger; reason?: string }): Promise<void> {
    this.drainingSince = new Date();
    if (this.opts.reportMetric) metrics.draining.set(1);
    log?.warn({ reason, timeoutMs, hooks: this.drainHooks.map((h) => h.name) }, 'draining: no new calls on this node');
    for (const fn of this.drainListeners) {
      try {
        fn();
      } catch (err) {
        log?.error({ err }, 'drain listener failed');
      }
    }

    const controller = new AbortController();
    const deadline = new Date(Date.now() + timeoutMs);
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    const timedOut = new Promise<'timeout'>((resolve) => controller.signal.addEventListener('abort', () => resolve('timeout')));
    const hooks = Promise.allSettled(
      this.drainHooks.map(async (h) => {
        try {
          await h.fn({ signal: controller.signal, deadline });
        } catch (err) {
          log?.error({ err, hook: h.name }, 'drain hook failed');
        }
      }),
    );
    const outcome = await Promise.race([hooks.then(() => 'done' as const), timedOut]);
    clearTimeout(timer);
    controller.abort();
    if (outcome === 'timeout') log?.warn({ timeoutMs }, 'drain timeout reached; closing with work still live');
    else log?.info('drain complete');

    for (const h of [...this.closeHooks].reverse()) {
      try {
        await withTimeout(Promise.resolve().then(h.fn), CLOSE_HOOK_TIMEOUT_MS);
      } catch (err) {
        log?.error({ err, hook: h.name }, 'close hook failed');
      }
    }
  }

  /**
   * SIGTERM/SIGINT → drainAndClose → exit(0). A second signal exits at once (operator insists).
   * Returns a function that removes the handlers.
   */
  installSignalHandlers(opts: { timeoutMs: number; log?: Logger; exit?: (code: number) => void }): () => void {
    const exit = opts.exit ?? ((code: number) => process.exit(code));
    const handler = (signal: NodeJS.Signals) => {
      if (this.shutdown) {
        opts.log?.warn({ signal }, 'second signal: exiting now');
        exit(1);
        return;
      }
      void this.drainAndClose({ timeoutMs: opts.timeoutMs, log: opts.log, reason: signal }).then(() => exit(0));
    };
    process.on('SIGTERM', handler);
    process.on('SIGINT', handler);
    return () => {
      process.off('SIGTERM', handler);
      process.off('SIGINT', handler);
    };
  }
}

function removeFrom<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}

/** The process-wide lifecycle: one CTI node per process. `lifecycle.draining` is what call intake checks. */
export const lifecycle = new Lifecycle({ reportMetric: true });
