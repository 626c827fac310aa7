// A switch-side call leg: its state, caller profile, variables, partner, and how it renders into event headers.
import type { Headers } from './event.js';
import { microStamp } from './event.js';

export type ChannelState =
  | 'CS_NEW' | 'CS_INIT' | 'CS_ROUTING' | 'CS_SOFT_EXECUTE' | 'CS_EXECUTE' | 'CS_EXCHANGE_MEDIA' | 'CS_PARK'
  | 'CS_CONSUME_MEDIA' | 'CS_HIBERNATE' | 'CS_RESET' | 'CS_HANGUP' | 'CS_REPORTING' | 'CS_DESTROY' | 'CS_NONE';
export const STATE_NUMBER: Record<ChannelState, number> = {
  CS_NEW: 0, CS_INIT: 1, CS_ROUTING: 2, CS_SOFT_EXECUTE: 3, CS_EXECUTE: 4, CS_EXCHANGE_MEDIA: 5, CS_PARK: 6,
  CS_CONSUME_MEDIA: 7, CS_HIBERNATE: 8, CS_RESET: 9, CS_HANGUP: 10, CS_REPORTING: 11, CS_DESTROY: 12, CS_NONE: 13,
};
export type CallState = 'DOWN' | 'DIALING' | 'RINGING' | 'EARLY' | 'ACTIVE' | 'HELD' | 'RING_WAIT' | 'HANGUP' | 'UNHELD';
export const CALLSTATE_NUMBER: Record<CallState, number> = {
  DOWN: 0, DIALING: 1, RINGING: 2, EARLY: 3, ACTIVE: 4, HELD: 5, RING_WAIT: 6, HANGUP: 7, UNHELD: 8,
};
export type AnswerState = 'ringing' | 'early' | 'answered' | 'hangup';

/** the Caller-* block (switch_caller_profile_t) */
export interface CallerProfile {
  username?: string;
  dialplan?: string;
  cidName?: string;
  cidNumber: string;
  origCidName?: string;
  origCidNumber?: string;
  calleeName?: string;
  calleeNumber?: string;
  networkAddr?: string;
  ani: string;
  destination: string;
  source: string;
  transferSource?: string;
  context: string;
  createdMs: number;
  answeredMs: number;
  progressMs: number;
  progressMediaMs: number;
  hangupMs: number;
  transferMs: number;
  bridgedMs: number;
  lastHoldMs: number;
  holdAccumMs: number;
}

export type OtherType = 'originator' | 'originatee';

const T = (ms: number): string => (ms ? microStamp(ms) : '0');

export class Channel {
  state: ChannelState = 'CS_NEW';
  callState: CallState = 'DOWN';
  answerState: AnswerState = 'ringing';
  hangupCause?: string;
  /** codec headers appear once media is set up (early media or answer) */
  media = false;
  readonly vars = new Map<string, string>();
  /** bridged partner (Other-Leg-* headers, uuid_bridge, hold music target) */
  partner?: Channel;
  /** whose profile appears as Other-Leg-* and how (originator/originatee); may outlive the bridge */
  otherLeg?: { type: OtherType; channel: Channel };
  hitDialplan = true;
  presenceId?: string;
  destroyed = false;
  /** set while the channel is on hold (uuid_hold) */
  held = false;
  /** free slot for the owner of the leg (world endpoint, originate job ...) */
  owner?: unknown;
  /** destination the leg was created with (conference member events show it after transfers) */
  firstDestination?: string;

  constructor(
    readonly uuid: string,
    public name: string,
    readonly direction: 'inbound' | 'outbound',
    public profile: CallerProfile,
  ) {}

  get answered(): boolean {
    return this.answerState === 'answered';
  }
  get alive(): boolean {
    return this.answerState !== 'hangup' && !this.destroyed;
  }

  setVar(name: string, value: string | undefined): void {
    if (value === undefined) this.vars.delete(name);
    else this.vars.set(name, value);
  }
  getVar(name: string): string | undefined {
    switch (name) {
      case 'uuid': return this.uuid;
      case 'caller_id_number': return this.profile.cidNumber;
      case 'caller_id_name': return this.profile.cidName;
      case 'destination_number': return this.profile.destination;
      case 'channel_name': return this.name;
      case 'state': return this.state;
      default: return this.vars.get(name);
    }
  }

  /** Channel-State ... Answer-State (+ Hangup-Cause, codecs, Other-Type), as switch_channel_event_set_basic_data */
  basic(h: Headers): void {
    h['Channel-State'] = this.state;
    h['Channel-Call-State'] = this.callState;
    h['Channel-State-Number'] = String(STATE_NUMBER[this.state]);
    h['Channel-Name'] = this.name;
    h['Unique-ID'] = this.uuid;
    h['Call-Direction'] = this.direction;
    h['Presence-Call-Direction'] = this.direction;
    h['Channel-HIT-Dialplan'] = this.hitDialplan ? 'true' : 'false';
    if (this.presenceId) h['Channel-Presence-ID'] = this.presenceId;
    h['Channel-Call-UUID'] = this.vars.get('call_uuid') ?? this.uuid;
    h['Answer-State'] = this.answerState;
    if (this.hangupCause) h['Hangup-Cause'] = this.hangupCause;
    if (this.media) {
      h['Channel-Read-Codec-Name'] = 'PCMA';
      h['Channel-Read-Codec-Rate'] = '8000';
      h['Channel-Read-Codec-Bit-Rate'] = '64000';
      h['Channel-Write-Codec-Name'] = 'PCMA';
      h['Channel-Write-Codec-Rate'] = '8000';
      h['Channel-Write-Codec-Bit-Rate'] = '64000';
    }
    if (this.otherLeg) h['Other-Type'] = this.otherLeg.type;
  }

  /** Caller-* and Other-Leg-* blocks */
  profiles(h: Headers, original = false): void {
    const p = original && this.firstDestination !== undefined ? { ...this.profile, destination: this.firstDestination } : this.profile;
    profileHeaders(h, 'Caller-', p, this.uuid, this.name, this.direction, true);
    const o = this.otherLeg;
    if (o) profileHeaders(h, 'Other-Leg-', o.channel.profile, o.channel.uuid, o.channel.name, o.channel.direction, false);
  }

  variables(h: Headers): void {
    for (const [k, v] of this.vars) h['variable_' + k] = v;
  }
}

function profileHeaders(h: Headers, p: string, c: CallerProfile, uuid: string, chanName: string, dir: string, full: boolean): void {
  h[p + 'Direction'] = dir;
  h[p + 'Logical-Direction'] = dir;
  if (c.username !== undefined) h[p + 'Username'] = c.username;
  if (c.dialplan !== undefined) h[p + 'Dialplan'] = c.dialplan;
  if (c.cidName !== undefined) h[p + 'Caller-ID-Name'] = c.cidName;
  h[p + 'Caller-ID-Number'] = c.cidNumber;
  if (c.origCidName !== undefined) h[p + 'Orig-Caller-ID-Name'] = c.origCidName;
  if (c.origCidNumber !== undefined) h[p + 'Orig-Caller-ID-Number'] = c.origCidNumber;
  if (c.calleeName !== undefined) h[p + 'Callee-ID-Name'] = c.calleeName;
  if (c.calleeNumber !== undefined) h[p + 'Callee-ID-Number'] = c.calleeNumber;
  if (c.networkAddr !== undefined) h[p + 'Network-Addr'] = c.networkAddr;
  h[p + 'ANI'] = c.ani;
  h[p + 'Destination-Number'] = c.destination;
  h[p + 'Unique-ID'] = uuid;
  h[p + 'Source'] = c.source;
  if (c.transferSource !== undefined && full) h[p + 'Transfer-Source'] = c.transferSource;
  h[p + 'Context'] = c.context;
  h[p + 'Channel-Name'] = chanName;
  if (full) h[p + 'Profile-Index'] = '1';
  h[p + 'Profile-Created-Time'] = T(c.createdMs);
  h[p + 'Channel-Created-Time'] = T(c.createdMs);
  h[p + 'Channel-Answered-Time'] = T(c.answeredMs);
  h[p + 'Channel-Progress-Time'] = T(c.progressMs);
  h[p + 'Channel-Progress-Media-Time'] = T(c.progressMediaMs);
  h[p + 'Channel-Hangup-Time'] = T(c.hangupMs);
  h[p + 'Channel-Transfer-Time'] = T(c.transferMs);
  h[p + 'Channel-Resurrect-Time'] = '0';
  h[p + 'Channel-Bridged-Time'] = T(c.bridgedMs);
  h[p + 'Channel-Last-Hold'] = T(c.lastHoldMs);
  h[p + 'Channel-Hold-Accum'] = String(Math.round(c.holdAccumMs * 1000));
  h[p + 'Screen-Bit'] = 'true';
  h[p + 'Privacy-Hide-Name'] = 'false';
  h[p + 'Privacy-Hide-Number'] = 'false';
}

export function newProfile(now: number, p: Partial<CallerProfile> & { cidNumber: string; destination: string; source: string; context: string }): CallerProfile {
  return {
    ani: p.cidNumber,
    createdMs: now,
    answeredMs: 0,
    progressMs: 0,
    progressMediaMs: 0,
    hangupMs: 0,
    transferMs: 0,
    bridgedMs: 0,
    lastHoldMs: 0,
    holdAccumMs: 0,
    ...p,
  };
}
