// Call control: what agents and supervisors do to live calls (service for REST and the agent WebSocket).
export { CallControl, MONITOR_DIGITS } from './call-control.js';
export type {
  Actor,
  AcdForControl,
  BlacklistForControl,
  RecordingHook,
  CommandTiming,
  CallControlOptions,
  TransferTarget,
  AttachedData,
  MonitorMode,
  CallControlEvents,
} from './call-control.js';
export { CallControlError } from './errors.js';
export { AgentLegs } from './agent-legs.js';
export type { AgentLeg } from './agent-legs.js';
export type { CallControlErrorCode } from './errors.js';
export { normaliseNumber, compileForbidden, DEFAULT_DIAL_RULES } from './dial-rules.js';
export type { DialRules, NormalisedNumber, NumberKind } from './dial-rules.js';
export { callControlRoutes } from './routes.js';
export type { CallControlRoutesDeps } from './routes.js';
