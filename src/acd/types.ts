// The ACD's public types: group configuration, the offer contract with the call layer, and engine events.
import type { AcdStrategy, OverflowTarget, AgentEndpointType } from '../db/schema/acd.js';
import type { AgentState, AgentTransition } from '../agents/states.js';

export type { AcdStrategy, OverflowTarget, AgentEndpointType };

export interface SkillGroupMember {
  agentId: string;
  /** 1-5 */
  proficiency: number;
  /** order for sequential and round-robin */
  position: number;
}

/** Everything the routing needs to know about one skill group (queue). Stored in PostgreSQL, mirrored to Redis. */
export interface SkillGroupConfig {
  id: string;
  tenantId: string;
  name: string;
  /** short reference used by IVR flows (`skillGroup: consult`) */
  code: string | null;
  strategy: AcdStrategy;
  priority: number;
  agingRate: number;
  vipBoost: number;
  musicOnHold: string | null;
  announceIntervalMs: number;
  maxWaitMs: number | null;
  overflowOnWait: OverflowTarget | null;
  maxQueueLength: number | null;
  overflowOnLength: OverflowTarget | null;
  noAnswerTimeoutMs: number;
  wrapUpMs: number;
  previousAgentEnabled: boolean;
  previousAgentWindowMs: number;
  previousAgentWaitMs: number;
  members: SkillGroupMember[];
}

/** How to reach the agent for this shift. Mobile offers need a key press (group_confirm_key) to accept. */
export interface AgentEndpoint {
  type: AgentEndpointType;
  /** SIP extension or mobile number */
  address: string;
  /** carrier gateway for mobile numbers */
  gateway?: string;
  /** mobile: the key that accepts the call (default "1") */
  confirmKey?: string;
  /** SIP: the agent chose auto-answer for the shift: offers carry the auto-answer headers (Call-Info answer-after=0) */
  autoAnswer?: boolean;
}

export interface OfferedAgent {
  agentId: string;
  endpoint: AgentEndpoint;
}

/** What the agent's screen shows when the call is offered. The IVR/caller directory fill it at enqueue. */
export interface ScreenPop {
  callerNumber: string;
  callerName?: string;
  callerAddress?: string;
  ivrPath?: string[];
  previousCalls?: { at: string; agentId: string | null; summary?: string }[];
  [key: string]: unknown;
}

export interface OfferRequest {
  callUuid: string;
  tenantId: string;
  groupId: string;
  agent: OfferedAgent;
  /** ring-all: further agents rung at the same time; the first to answer gets the call */
  alsoRing: OfferedAgent[];
  /** originate_timeout for the agent leg */
  timeoutMs: number;
  screenPop: ScreenPop;
  /** how long the caller has waited so far */
  waitMs: number;
  /** aborted when the caller hangs up or the ACD withdraws the offer: stop ringing the agent(s) */
  signal: AbortSignal;
}

export type OfferResult =
  /** legUuid: the agent's channel, bridged to the caller (the call layer may not have seen its bridge yet) */
  | { outcome: 'answered'; agentId: string; legUuid?: string }
  /** rang out (originate_timeout), or a mobile agent did not press the confirm key */
  | { outcome: 'no_answer'; agentId?: string }
  /** the agent declined (USER_BUSY / CALL_REJECTED) */
  | { outcome: 'rejected'; agentId?: string }
  /** the endpoint cannot be reached at all (USER_NOT_REGISTERED, gateway down) */
  | { outcome: 'unreachable'; agentId?: string }
  /** the caller hung up while the agent was being rung */
  | { outcome: 'caller_gone' };

/**
 * Performs an offer the ACD decided on, on the node that owns the caller's channel. Over ESL: originate the agent
 * leg with originate_timeout = timeoutMs (ring-all: the agents comma-separated in one dial string, first answer
 * wins), then uuid_bridge it to the parked caller. Must always settle; on `signal` abort stop ringing and, if an
 * agent leg answered meanwhile, hang it up.
 * Mobile agents (trace 19): originate via the carrier gateway with group_confirm_key=<confirmKey> and a
 * group_confirm_file; the key must be pressed within originate_timeout, which counts from the originate, not from
 * the answer. With no key the originate fails with NO_ANSWER although the leg had answered (its voicemail, say):
 * report `no_answer`.
 */
export interface OfferExecutor {
  offer(req: OfferRequest): Promise<OfferResult>;
  /** hang up an answered agent leg whose answer came too late (the caller left the queue meanwhile) */
  releaseLeg?(callUuid: string, legUuid: string): Promise<void>;
}

export interface EnqueueRequest {
  callUuid: string;
  tenantId: string;
  groupId: string;
  callerNumber: string;
  /** VIP callers get the group's vipBoost */
  vip?: boolean;
  /** extra priority from the IVR (e.g. a menu choice) */
  priority?: number;
  /** skip the caller→previous-agent lookup and prefer this agent */
  preferredAgentId?: string;
  screenPop?: ScreenPop;
  /** keep an earlier arrival (overflow from another group keeps the caller's place in time) */
  arrivalMs?: number;
}

export type EnqueueResult =
  | { status: 'offered' }
  | { status: 'queued'; position: number }
  | { status: 'waiting_for_agent'; agentId: string; waitMs: number }
  | { status: 'overflow'; target: OverflowTarget; reason: 'max_length' }
  | { status: 'rejected'; reason: 'no_group' | 'duplicate' };

/** How a queued call left the queue (resolves `AcdEngine.outcome(callUuid)` on the owner node). */
export type CallOutcome =
  /** agentLegUuid: the agent's channel when the ACD bridged it (not for a pickup) */
  | { outcome: 'answered'; agentId: string; waitMs: number; agentLegUuid?: string }
  | { outcome: 'overflow'; target: OverflowTarget; reason: 'max_wait' | 'max_length'; waitMs: number }
  | { outcome: 'abandoned'; waitMs: number }
  /** taken out by its own queue task (the IVR node's timeout) */
  | { outcome: 'left'; reason: string; waitMs: number };

export interface QueuePosition {
  position: number;
  estimatedWaitMs: number;
}

export interface AgentStateEvent extends AgentTransition {}

export interface OfferEvent {
  callUuid: string;
  tenantId: string;
  groupId: string;
  agentIds: string[];
  screenPop: ScreenPop;
  decidedAt: number;
}

export interface AcdEngineEvents {
  agentState: [AgentStateEvent];
  /** emitted on every node (the agent's WebSocket may be on another node than the call) */
  offer: [OfferEvent];
  callOutcome: [{ callUuid: string; tenantId: string } & CallOutcome];
  /** a group's queue or ready agents changed (the WebSocket layer refreshes its stats); from other nodes coalesced per 100 ms */
  queueChanged: [{ tenantId: string; groupId: string }];
  /** Redis had lost the routing state (restart without persistence, flush) and this node put it back */
  routingRebuilt: [RoutingRebuild];
  error: [Error];
}

export interface RoutingRebuild {
  ms: number;
  groups: number;
  agents: number;
  /** this node's callers put back: waiting (enqueued again), being offered, talking */
  waiting: number;
  offering: number;
  talking: number;
  /** agents restored reserved for one of this node's calls that did not come back, freed to ready */
  reservationsFreed: number;
}

export type { AgentState };
