// The compact form of a call kept in Redis (for re-adoption after a CTI restart) and the CDR row built from it.
import type { CallSession, CallLeg, LegEventEntry, HangupSide } from './call-session.js';
import { isCallState, type CallState } from './call-state.js';
import type { NewCdr, NewCallLegEvent } from '../db/schema/calls.js';

export interface CallRecord {
  v: 1;
  uuid: string;
  tenantId: string;
  node: string;
  ctiNode?: string;
  direction: 'inbound' | 'outbound';
  state: CallState;
  callerNumber?: string;
  calleeNumber?: string;
  did?: string;
  times: CallSession['times'];
  legs: CallLeg[];
  agentId?: string;
  skillGroupId?: string;
  recordingId?: string;
  lastIvrNode?: string;
  ivrPath: string[];
  holdMs: number;
  holdStartedAt?: number;
  hangupCause?: string;
  hangupSide?: HangupSide;
  hangupRequestedBySystem?: boolean;
  variables: Record<string, string>;
  legEvents: LegEventEntry[];
  legEventSeq: number;
  /** epoch ms of the last save */
  savedAt: number;
}

/** The record's fields, referring to the live session's own objects (serialize at once, or copy: toRecord). */
function recordView(s: CallSession, ctiNode?: string): CallRecord {
  return {
    v: 1,
    uuid: s.uuid,
    tenantId: s.tenantId,
    node: s.node,
    ctiNode,
    direction: s.direction,
    state: s.state,
    callerNumber: s.callerNumber,
    calleeNumber: s.calleeNumber,
    did: s.did,
    times: s.times,
    legs: [...s.legs.values()],
    agentId: s.agentId,
    skillGroupId: s.skillGroupId,
    recordingId: s.recordingId,
    lastIvrNode: s.lastIvrNode,
    ivrPath: s.ivrPath,
    holdMs: s.holdMs,
    holdStartedAt: s.holdStartedAt,
    hangupCause: s.hangupCause,
    hangupSide: s.hangupSide,
    hangupRequestedBySystem: s.hangupRequestedBySystem || undefined,
    variables: s.variables,
    legEvents: s.legEvents,
    legEventSeq: s.legEventSeq,
    savedAt: Date.now(),
  };
}

/** A snapshot of the session, safe to keep while the call goes on (the CDR is built from it). */
export function toRecord(s: CallSession, ctiNode?: string): CallRecord {
  const r = recordView(s, ctiNode);
  return {
    ...r,
    times: { ...r.times },
    legs: r.legs.map((l) => ({ ...l })),
    ivrPath: [...r.ivrPath],
    variables: { ...r.variables },
    legEvents: r.legEvents.map((e) => ({ ...e })),
  };
}

/** The record as JSON, straight from the live session (no copies: it is serialized at once). For the saves while the call is up. */
export function recordJson(s: CallSession, ctiNode?: string): string {
  return JSON.stringify(recordView(s, ctiNode));
}

export function parseRecord(json: string): CallRecord | null {
  try {
    const r = JSON.parse(json) as CallRecord;
    if (r?.v !== 1 || typeof r.uuid !== 'string' || !isCallState(r.state)) return null;
    return r;
  } catch {
    return null;
  }
}

/** Copy a persisted record into a fresh session (re-adoption). */
export function restoreInto(s: CallSession, r: CallRecord): void {
  s.restoreState(r.state);
  Object.assign(s.times, r.times);
  for (const leg of r.legs) s.legs.set(leg.uuid, { ...leg });
  s.agentId = r.agentId;
  s.skillGroupId = r.skillGroupId;
  s.recordingId = r.recordingId;
  s.lastIvrNode = r.lastIvrNode;
  s.ivrPath.push(...r.ivrPath);
  s.holdMs = r.holdMs;
  s.holdStartedAt = r.holdStartedAt;
  s.hangupCause = r.hangupCause;
  s.hangupSide = r.hangupSide;
  s.hangupRequestedBySystem = r.hangupRequestedBySystem ?? false;
  Object.assign(s.variables, r.variables);
  s.legEvents.push(...r.legEvents);
  s.legEventSeq = r.legEventSeq;
  s.callerNumber = r.callerNumber;
  s.calleeNumber = r.calleeNumber;
  s.did = r.did;
  s.adopted = true;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface CdrPayload {
  cdr: NewCdr;
  legEvents: NewCallLegEvent[];
}

/**
 * JSON (the Redis buffer, the call store) turns a NaN time into null, and null reads as "not set" or, in new Date(null),
 * as 1970. Put the NaN back, so a lost time makes the database refuse the CDR (kept in the failed set) on every path.
 */
function withLostTimes(r: CallRecord): CallRecord {
  const lost = <T>(v: T): T => (v === null ? (NaN as T) : v);
  return {
    ...r,
    times: Object.fromEntries(Object.entries(r.times).map(([k, v]) => [k, lost(v)])) as CallRecord['times'],
    holdStartedAt: lost(r.holdStartedAt),
    legEvents: r.legEvents.map((e) => (e.at === null ? { ...e, at: NaN } : e)),
  };
}

/** The CDR row (and leg events) for a finished call. Timestamps are ISO strings so the payload survives JSON (BullMQ). */
export function buildCdr(stored: CallRecord, opts: { recovered?: boolean; endAt?: number } = {}): CdrPayload {
  const r = withLostTimes(stored);
  const endAt = r.times.endAt ?? opts.endAt ?? Date.now();
  const iso = (ms: number | undefined): Date | null => (ms === undefined ? null : new Date(ms));
  const { final_state: finalState, ...variables } = r.variables;
  const uuidOrNull = (v: string | undefined, key: string): string | null => {
    if (!v) return null;
    if (UUID_RE.test(v)) return v;
    variables[key] = v; // keep what IVR/ACD gave us even when it is not a uuid
    return null;
  };
  let holdMs = r.holdMs;
  if (r.holdStartedAt !== undefined) holdMs += Math.max(0, endAt - r.holdStartedAt);
  const queueMs =
    r.times.queueEnterAt !== undefined ? Math.max(0, (r.times.queueLeaveAt ?? endAt) - r.times.queueEnterAt) : 0;
  const talkMs = r.times.agentAnswerAt !== undefined ? Math.max(0, endAt - r.times.agentAnswerAt - holdMs) : 0;
  const cdr: NewCdr = {
    callUuid: r.uuid,
    tenantId: r.tenantId,
    direction: r.direction,
    callerNumber: r.callerNumber ?? null,
    calleeNumber: r.calleeNumber ?? null,
    did: r.did ?? null,
    startAt: new Date(r.times.startAt),
    answerAt: iso(r.times.answerAt),
    queueEnterAt: iso(r.times.queueEnterAt),
    queueLeaveAt: iso(r.times.queueLeaveAt ?? (r.times.queueEnterAt !== undefined ? endAt : undefined)),
    agentAnswerAt: iso(r.times.agentAnswerAt),
    endAt: new Date(endAt),
    durationMs: Math.max(0, Math.round(endAt - r.times.startAt)),
    talkMs: Math.round(talkMs),
    holdMs: Math.round(holdMs),
    queueMs: Math.round(queueMs),
    hangupCause: r.hangupCause ?? null,
    hangupSide: r.hangupSide ?? 'unknown',
    finalState: finalState ?? r.state,
    agentId: uuidOrNull(r.agentId, 'agent_id'),
    skillGroupId: uuidOrNull(r.skillGroupId, 'skill_group_id'),
    recordingId: r.recordingId ?? null,
    lastIvrNode: r.lastIvrNode ?? null,
    ivrPath: r.ivrPath,
    variables,
    fsNode: r.node,
    ctiNode: r.ctiNode ?? null,
    recovered: opts.recovered ?? false,
  };
  const firstSeq = r.legEventSeq - r.legEvents.length;
  const legEvents: NewCallLegEvent[] = r.legEvents.map((e, i) => ({
    tenantId: r.tenantId,
    callUuid: r.uuid,
    seq: firstSeq + i,
    legUuid: e.legUuid,
    role: e.role,
    event: e.event,
    at: new Date(e.at),
    details: e.details ?? null,
  }));
  return { cdr, legEvents };
}
