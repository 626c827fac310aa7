// Counters the ESL layer reports; the http layer exposes them via prom-client (createPromEslMetrics).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type CommandKind = 'bgapi' | 'api' | 'sendmsg' | 'command';
export type CommandOutcome = 'ok' | 'error' | 'timeout' | 'disconnected';

export interface EslMetrics {
  eventReceived(node: string, eventName: string): void;
  commandDone(node: string, kind: CommandKind, seconds: number, outcome: CommandOutcome): void;
  reconnected(node: string): void;
  connectionUp(node: string, up: boolean): void;
  malformedFrame(node: string): void;
}

export const noopEslMetrics: EslMetrics = {
  eventReceived() {},
  commandDone() {},
  reconnected() {},
  connectionUp() {},
  malformedFrame() {},
};

/** prom-client metrics on `registry`: esl_events_total (rate() gives events/s), esl_command_seconds, esl_reconnects_total. */
export function createPromEslMetrics(registry: Registry): EslMetrics {
  const events = new Counter({
    name: 'esl_events_total',
    help: 'ESL events received, by node and event name',
    labelNames: ['node', 'event'] as const,
    registers: [registry],
  });
  const commands = new Histogram({
    name: 'esl_command_seconds',
    help: 'ESL command latency (send to final reply), by node, kind and outcome',
    labelNames: ['node', 'kind', 'outcome'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const reconnects = new Counter({
    name: 'esl_reconnects_total',
    help: 'ESL reconnections after a lost connection',
    labelNames: ['node'] as const,
    registers: [registry],
  });
  const up = new Gauge({
    name: 'esl_connection_up',
    help: '1 when the ESL connection to the node is authenticated and subscribed',
    labelNames: ['node'] as const,
    registers: [registry],
  });
  const malformed = new Counter({
    name: 'esl_malformed_frames_total',
    help: 'ESL frames that could not be parsed and were skipped',
    labelNames: ['node'] as const,
    registers: [registry],
  });
  return {
    eventReceived: (node, event) => events.inc({ node, event }),
    commandDone: (node, kind, seconds, outcome) => commands.observe({ node, kind, outcome }, seconds),
    reconnected: (node) => reconnects.inc({ node }),
    connectionUp: (node, isUp) => up.set({ node }, isUp ? 1 : 0),
    malformedFrame: (node) => malformed.inc({ node }),
  };
}
