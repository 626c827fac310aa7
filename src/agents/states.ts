// The agent state machine. Redis (src/acd/lua.ts) holds the live state and performs the transitions atomically;
// this table is the one definition of which transitions exist, used to validate and to document them.

export const AGENT_STATES = ['logged_out', 'not_ready', 'ready', 'reserved', 'ringing', 'talking', 'wrap_up'] as const;
export type AgentState = (typeof AGENT_STATES)[number];

/** Not-ready reasons shown to agents and supervisors; free text is allowed too, these are the standard ones. */
export const NOT_READY_REASONS = ['小休', '就餐', '培训', '会议', '忙碌', '未接', '话机离线'] as const;
export const REASON_MISSED = '未接';
export const REASON_PHONE_OFFLINE = '话机离线';

const TRANSITIONS: Record<AgentState, readonly AgentState[]> = {
  logged_out: ['not_ready'],
  not_ready: ['ready', 'not_ready', 'logged_out'],
  // an agent with a caller already waiting goes from free straight to reserved
  ready: ['reserved', 'not_ready', 'logged_out'],
  reserved: ['ringing', 'talking', 'ready', 'not_ready', 'reserved', 'logged_out'],
  ringing: ['talking', 'ready', 'not_ready', 'reserved', 'logged_out'],
  talking: ['wrap_up', 'ready', 'not_ready', 'reserved', 'logged_out'],
  wrap_up: ['ready', 'not_ready', 'reserved', 'logged_out'],
};

export function canTransition(from: AgentState, to: AgentState): boolean {
  return TRANSITIONS[from].includes(to);
}

export function isAgentState(s: string): s is AgentState {
  return (AGENT_STATES as readonly string[]).includes(s);
}

/** States in which the agent is handling or about to handle a call (a not-ready request waits until it ends). */
export function isOnCall(s: AgentState): boolean {
  return s === 'reserved' || s === 'ringing' || s === 'talking' || s === 'wrap_up';
}

/** Chinese labels for UIs and the wallboard. */
export const AGENT_STATE_LABELS: Record<AgentState, string> = {
  logged_out: '未签入',
  not_ready: '未就绪',
  ready: '空闲',
  reserved: '预占',
  ringing: '振铃',
  talking: '通话',
  wrap_up: '话后处理',
};

/** One state change, as the routing scripts report it; the ended period (from, fromSince → at) is logged. */
export interface AgentTransition {
  agentId: string;
  tenantId: string;
  from: AgentState;
  fromReason: string;
  /** ms epoch when `from` began; null if unknown (first sign-in) */
  fromSince: number | null;
  to: AgentState;
  reason: string;
  at: number;
  /** to 'reserved' for an offer: the call and the CTI node that owns it */
  callUuid?: string;
  ownerNode?: string;
}
