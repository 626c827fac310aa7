// The process's Prometheus registry, served at /metrics. Other modules import the metrics below and feed them
// (the ESL layer: events, command latency, reconnects, connected; the call layer: live calls).
import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client';
import type { EslMetrics } from '../esl/metrics.js';

export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry, prefix: 'hotline_' });

export const metrics = {
  /** calls this node is tracking now (set by the call tracker) */
  liveCalls: new Gauge({
    name: 'hotline_live_calls',
    help: 'Calls currently tracked by this CTI node',
    labelNames: ['node'] as const,
    registers: [metricsRegistry],
  }),
  /** every ESL event received; events/s is rate(hotline_esl_events_total[1m]) */
  eslEvents: new Counter({
    name: 'hotline_esl_events_total',
    help: 'ESL events received, by FreeSWITCH node and event name',
    labelNames: ['node', 'event'] as const,
    registers: [metricsRegistry],
  }),
  /** bgapi/api round trip, from send to the job's result */
  eslCommandSeconds: new Histogram({
    name: 'hotline_esl_command_duration_seconds',
    help: 'ESL command latency (send to final reply, e.g. bgapi to BACKGROUND_JOB), by node, kind and outcome',
    labelNames: ['node', 'kind', 'outcome'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [metricsRegistry],
  }),
  eslReconnects: new Counter({
    name: 'hotline_esl_reconnects_total',
    help: 'ESL reconnections, by FreeSWITCH node',
    labelNames: ['node'] as const,
    registers: [metricsRegistry],
  }),
  /** 1 while the ESL connection to the node is up and subscribed */
  eslConnected: new Gauge({
    name: 'hotline_esl_connected',
    help: 'Whether the ESL connection to the FreeSWITCH node is up (1) or not (0)',
    labelNames: ['node'] as const,
    registers: [metricsRegistry],
  }),
  eslMalformedFrames: new Counter({
    name: 'hotline_esl_malformed_frames_total',
    help: 'ESL frames that could not be parsed and were skipped, by FreeSWITCH node',
    labelNames: ['node'] as const,
    registers: [metricsRegistry],
  }),
  httpRequestSeconds: new Histogram({
    name: 'hotline_http_request_duration_seconds',
    help: 'HTTP request duration by method, route pattern and status code',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [metricsRegistry],
  }),
  /** 1 while the node is draining (SIGTERM received) */
  draining: new Gauge({
    name: 'hotline_draining',
    help: 'Whether this node is draining (1) and takes no new calls',
    registers: [metricsRegistry],
  }),
};

/** The ESL layer's metrics hook (EslNode/EslCluster `metrics` option) feeding the metrics above. */
export const eslMetrics: EslMetrics = {
  eventReceived: (node, event) => metrics.eslEvents.inc({ node, event }),
  commandDone: (node, kind, seconds, outcome) => metrics.eslCommandSeconds.observe({ node, kind, outcome }, seconds),
  reconnected: (node) => metrics.eslReconnects.inc({ node }),
  connectionUp: (node, up) => metrics.eslConnected.set({ node }, up ? 1 : 0),
  malformedFrame: (node) => metrics.eslMalformedFrames.inc({ node }),
};
