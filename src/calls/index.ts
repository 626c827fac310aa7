// The call layer: sessions and their state machine, the tracker fed by ESL, media over ESL, CDRs.
export { CallTracker } from './call-tracker.js';
export type { CallTrackerOptions, CallTrackerEvents } from './call-tracker.js';
export { CallSession, LEG_ROLES } from './call-session.js';
export type { CallLeg, LegRole, HangupSide, LegEventEntry, CallTimes, StateChange, CallSessionEvents } from './call-session.js';
export { CALL_STATES, canTransition, isCallState } from './call-state.js';
export type { CallState } from './call-state.js';
export type { CallTask, TaskOutcome } from './call-task.js';
export { EslCallMedia } from './esl-call-media.js';
export type { EslCallMediaOptions } from './esl-call-media.js';
export { CdrWriter, CDR_QUEUE, isPermanentDbError, redisConnectionOptions } from './cdr-writer.js';
export type { CdrJob, CdrWriteResult, CdrWriterOptions } from './cdr-writer.js';
export { CallStore } from './call-store.js';
export { toRecord, parseRecord, restoreInto, buildCdr } from './call-record.js';
export type { CallRecord, CdrPayload } from './call-record.js';
export * from './media.js';
export { NodeLiveness } from './node-liveness.js';
export type { NodeLivenessOptions } from './node-liveness.js';
