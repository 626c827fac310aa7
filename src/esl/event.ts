// What EslNode hands to the rest of the system for every event frame.

export interface EslEvent {
  /** Event-Name, e.g. CHANNEL_PARK; CUSTOM events keep CUSTOM here and the subclass below */
  readonly name: string;
  readonly subclass?: string;
  /** Unique-ID: the channel the event is about, when it is about one */
  readonly uuid?: string;
  /** every header of the event, values as strings (JSON events arrive already URL-decoded) */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** the event body (_body), e.g. a BACKGROUND_JOB's output; '' when none */
  readonly body: string;
  /** performance.now() when the frame was parsed off the socket, for latency measurements */
  readonly receivedAt: number;
  /** which switch sent it (EslNode.name) */
  readonly node: string;
}

/**
 * The subscription every hotline connection uses: only the events the CTI acts on. Left out on purpose, though the
 * golden traces subscribe to them: CHANNEL_STATE, CHANNEL_CALLSTATE, CHANNEL_EXECUTE, CHANNEL_UNPARK,
 * CHANNEL_ORIGINATE, CHANNEL_OUTGOING, PLAYBACK_START and PLAYBACK_STOP. They are 62 % of a real switch's channel
 * events (6-10 KB of JSON each) and nothing reads them; parsing them was the CTI's largest single cost at 100 calls/s.
 */
export const HOTLINE_EVENTS: readonly string[] = [
  'CHANNEL_CREATE', 'CHANNEL_DESTROY', 'CHANNEL_ANSWER', 'CHANNEL_HANGUP', 'CHANNEL_HANGUP_COMPLETE',
  'CHANNEL_EXECUTE_COMPLETE', 'CHANNEL_BRIDGE', 'CHANNEL_UNBRIDGE', 'CHANNEL_PROGRESS', 'CHANNEL_PROGRESS_MEDIA',
  'CHANNEL_PARK', 'CHANNEL_HOLD', 'CHANNEL_UNHOLD', 'DTMF', 'RECORD_START', 'RECORD_STOP', 'BACKGROUND_JOB',
  'HEARTBEAT', 'CUSTOM', 'sofia::register', 'sofia::unregister', 'sofia::expire', 'conference::maintenance',
];

export function subscriptionCommand(events: readonly string[] = HOTLINE_EVENTS): string {
  return `event json ${events.join(' ')}`;
}

/** One row of `show channels as json` (FreeSWITCH's column names; all values are strings). */
export interface ChannelRow {
  uuid: string;
  direction: string;
  created: string;
  created_epoch: string;
  name: string;
  state: string;
  cid_name: string;
  cid_num: string;
  dest: string;
  application: string;
  application_data: string;
  callstate: string;
  callee_name: string;
  callee_num: string;
  call_uuid: string;
  hostname: string;
  [column: string]: string;
}
