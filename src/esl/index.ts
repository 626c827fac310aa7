// The ESL layer: the only code that talks to modesl. Everyone else uses EslNode / EslCluster.
export { EslNode, parseShowJson } from './esl-node.js';
export type { EslNodeOptions, EslNodeHealth, EslNodeEvents, CommandOptions, ExecuteOptions, ResyncInfo } from './esl-node.js';
export { EslCluster } from './esl-cluster.js';
export type { EslClusterOptions, EslClusterEvents } from './esl-cluster.js';
export { EslError, EslTimeoutError, EslCommandError, EslDisconnectedError, EslAuthError, isErrorReply } from './errors.js';
export { HOTLINE_EVENTS, subscriptionCommand } from './event.js';
export type { EslEvent, ChannelRow } from './event.js';
export { createPromEslMetrics, noopEslMetrics } from './metrics.js';
export type { EslMetrics, CommandKind, CommandOutcome } from './metrics.js';
export { backoffDelay, DEFAULT_BACKOFF } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
