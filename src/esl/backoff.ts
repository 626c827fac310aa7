// Reconnect delays: exponential, capped, with "equal jitter" so a fleet of CTI nodes does not reconnect in lockstep.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 15_000, factor: 2 };

/** Delay before reconnect attempt number `attempt` (0 = first retry): between half and all of the capped delay. */
export function backoffDelay(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF, random = Math.random): number {
  const capped = Math.min(opts.maxMs, opts.initialMs * opts.factor ** Math.min(attempt, 30));
  return Math.round(capped / 2 + (random() * capped) / 2);
}
