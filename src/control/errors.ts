// Refusals of call-control commands: a stable code for programs, a Chinese message for the agent's screen.
export type CallControlErrorCode =
  | 'call_not_found'
  | 'not_your_call'
  | 'bad_state'
  | 'no_agent_leg'
  | 'agent_unavailable'
  | 'group_unavailable'
  | 'no_consult'
  | 'consult_active'
  | 'no_conference'
  | 'number_invalid'
  | 'number_forbidden'
  | 'number_blacklisted'
  | 'no_phone'
  | 'target_failed'
  | 'switch_refused'
  | 'monitor_not_found'
  | 'nothing_to_pick_up'
  | 'nothing_to_answer'
  | 'not_supported';

const STATUS: Record<CallControlErrorCode, number> = {
  call_not_found: 404,
  not_your_call: 403,
  bad_state: 409,
  no_agent_leg: 409,
  agent_unavailable: 409,
  group_unavailable: 404,
  no_consult: 409,
  consult_active: 409,
  no_conference: 409,
  number_invalid: 400,
  number_forbidden: 403,
  number_blacklisted: 403,
  no_phone: 409,
  target_failed: 502,
  switch_refused: 502,
  monitor_not_found: 404,
  nothing_to_pick_up: 404,
  nothing_to_answer: 409,
  not_supported: 501,
};

export class CallControlError extends Error {
  override name = 'CallControlError';
  readonly httpStatus: number;
  constructor(
    readonly code: CallControlErrorCode,
    message: string,
    /** e.g. the hang-up cause of a failed originate */
    readonly detail?: string,
  ) {
    super(message);
    this.httpStatus = STATUS[code];
  }
}
