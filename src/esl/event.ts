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

/** The subscription every hotline connection uses: exactly the event list of the golden traces. */
export const HOTLINE_EVENTS: readonly string[] = [
  'CHANNEL_CREATE', 'CHANNEL_DESTROY', 'CHANNEL_STATE', 'CHANNEL_CALLSTATE', 'CHANNEL_ANSWER', 'CHANNEL_HANGUP',
  'CHANNEL_HANGUP_COMPLETE', 'CHANNEL_EXECUTE', 'CHANNEL_EXECUTE_COMPLETE', 'CHANNEL_BRIDGE', 'CHANNEL_UNBRIDGE',
  'CHANNEL_PROGRESS', 'CHANNEL_PROGRESS_MEDIA', 'CHANNEL_PARK', 'CHANNEL_UNPARK', 'CHANNEL_HOLD', 'CHANNEL_UNHOLD',
  'CHANNEL_ORIGINATE', 'CHANNEL_OUTGOING', 'DTMF', 'PLAYBACK_START', 'PLAYBACK_STOP', 'RECORD_START', 'RECORD_STOP',
  'BACKGROUND_JOB', 'HEARTBEAT', 'CUSTOM', 'sofia::register', 'sofia::unregister', 'sofia::expire',
  'conference::maintenance',
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
