// The call's state machine. Every change goes through CallSession.transition(), which rejects what is not listed here.

export const CALL_STATES = [
  'ringing', // parked, not answered
  'ivr', // answered, an IVR flow is running
  'queued', // waiting for an agent
  'offering', // an agent's phone is ringing
  'talking', // bridged to an agent
  'held',
  'conferenced',
  'wrap-up', // the caller is gone, the agent finishes the call's paperwork
  'ended',
] as const;
export type CallState = (typeof CALL_STATES)[number];

const LEGAL: Record<CallState, readonly CallState[]> = {
  ringing: ['ivr', 'queued', 'offering', 'talking', 'ended'],
  ivr: ['queued', 'offering', 'talking', 'ended'],
  // back to ivr: overflow to voicemail / satisfaction survey
  queued: ['offering', 'ivr', 'ended'],
  // back to queued: the agent did not answer
  offering: ['talking', 'queued', 'ivr', 'ended'],
  // queued/offering again: transfer to a skill group or another agent; ivr: transfer to a survey
  talking: ['held', 'conferenced', 'queued', 'offering', 'ivr', 'wrap-up', 'ended'],
  held: ['talking', 'conferenced', 'queued', 'offering', 'wrap-up', 'ended'],
  conferenced: ['talking', 'held', 'wrap-up', 'ended'],
  'wrap-up': ['ended'],
  ended: [],
};

export function canTransition(from: CallState, to: CallState): boolean {
  return LEGAL[from].includes(to);
}

export function isCallState(s: unknown): s is CallState {
  return typeof s === 'string' && (CALL_STATES as readonly string[]).includes(s);
}
