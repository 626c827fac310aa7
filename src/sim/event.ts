// An ESL event: ordered headers (JS objects keep string-key insertion order) plus an optional body.
// Serialised lazily, once per format, whatever the number of listening connections.
import { urlEncode } from './wire.js';

export type Headers = Record<string, string>;

export class EslEvent {
  private json?: string;
  private plain?: string;
  constructor(
    readonly name: string,
    readonly headers: Headers,
    readonly body?: string,
    readonly subclass?: string,
  ) {}

  get(name: string): string | undefined {
    return this.headers[name];
  }

  toJson(): string {
    if (this.json === undefined) {
      if (this.body === undefined) this.json = JSON.stringify(this.headers);
      else {
        const h: Record<string, string> = { ...this.headers };
        h['Content-Length'] = String(Buffer.byteLength(this.body, 'utf8'));
        h['_body'] = this.body;
        this.json = JSON.stringify(h);
      }
    }
    return this.json;
  }

  /** switch_event_xmlize: <event><headers><Name>value</Name>...</headers>[<body>..</body>]</event> */
  toXml(): string {
    const esc = (v: string): string => v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
    let s = '<event>\n  <headers>\n';
    const h = this.headers;
    for (const k in h) s += `    <${k}>${esc(h[k]!)}</${k}>\n`;
    if (this.body !== undefined) s += `    <Content-Length>${Buffer.byteLength(this.body, 'utf8')}</Content-Length>\n  </headers>\n  <body>${esc(this.body)}</body>\n</event>\n`;
    else s += '  </headers>\n</event>\n';
    return s;
  }

  toPlain(): string {
    if (this.plain === undefined) {
      let s = '';
      const h = this.headers;
      for (const k in h) s += `${k}: ${urlEncode(h[k]!)}\n`;
      if (this.body !== undefined) s += `Content-Length: ${Buffer.byteLength(this.body, 'utf8')}\n\n${this.body}`;
      else s += '\n';
      this.plain = s;
    }
    return this.plain;
  }
}

/** Identity of the emulated switch, as it appears in every event's core headers. */
export interface SwitchIdentity {
  coreUuid: string;
  hostname: string;
  switchname: string;
  ipv4: string;
  ipv6: string;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}
/** "2026-11-23 13:15:40" (the switch's local time; the emulator uses UTC) */
export function localStamp(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}
export function microStamp(ms: number): string {
  return String(Math.floor(ms * 1000));
}

export class EventFactory {
  private seq = 1000;
  constructor(
    readonly id: SwitchIdentity,
    private readonly now: () => number,
  ) {}

  /** core headers in the switch's order; `where` = [file, function, line] of the firing code in FreeSWITCH */
  core(name: string, where: readonly [string, string, number], subclass?: string): Headers {
    const ms = this.now();
    const h: Headers = { 'Event-Name': name };
    if (subclass !== undefined) h['Event-Subclass'] = subclass;
    h['Core-UUID'] = this.id.coreUuid;
    h['FreeSWITCH-Hostname'] = this.id.hostname;
    h['FreeSWITCH-Switchname'] = this.id.switchname;
    h['FreeSWITCH-IPv4'] = this.id.ipv4;
    h['FreeSWITCH-IPv6'] = this.id.ipv6;
    h['Event-Date-Local'] = localStamp(ms);
    h['Event-Date-GMT'] = new Date(ms).toUTCString();
    h['Event-Date-Timestamp'] = microStamp(ms);
    h['Event-Calling-File'] = where[0];
    h['Event-Calling-Function'] = where[1];
    h['Event-Calling-Line-Number'] = String(where[2]);
    h['Event-Sequence'] = String(++this.seq);
    return h;
  }
}

/** where the real switch fires each event from (Event-Calling-* headers) */
export const FIRED_AT = {
  CHANNEL_CREATE: ['switch_core_state_machine.c', 'switch_core_session_run', 626],
  CHANNEL_STATE: ['switch_channel.c', 'switch_channel_perform_set_running_state', 2202],
  CHANNEL_CALLSTATE: ['switch_channel.c', 'switch_channel_perform_set_callstate', 333],
  CHANNEL_ANSWER: ['switch_channel.c', 'switch_channel_perform_mark_answered', 3918],
  CHANNEL_PROGRESS: ['switch_channel.c', 'switch_channel_perform_mark_ring_ready_value', 3593],
  CHANNEL_PROGRESS_MEDIA: ['switch_channel.c', 'switch_channel_perform_mark_pre_answered', 3741],
  CHANNEL_OUTGOING: ['switch_core_session.c', 'switch_core_session_outgoing_channel', 730],
  CHANNEL_ORIGINATE: ['switch_ivr_originate.c', 'switch_ivr_originate', 3452],
  CHANNEL_EXECUTE: ['switch_core_session.c', 'switch_core_session_exec', 2945],
  CHANNEL_EXECUTE_COMPLETE: ['switch_core_session.c', 'switch_core_session_exec', 2985],
  CHANNEL_PARK: ['switch_ivr.c', 'switch_ivr_park', 1002],
  CHANNEL_UNPARK: ['switch_ivr.c', 'switch_ivr_park', 1227],
  CHANNEL_BRIDGE: ['switch_ivr_bridge.c', 'audio_bridge_on_exchange_media', 1283],
  CHANNEL_UNBRIDGE: ['switch_ivr_bridge.c', 'audio_bridge_on_exchange_media', 1390],
  CHANNEL_HANGUP: ['switch_channel.c', 'switch_channel_perform_hangup', 3479],
  CHANNEL_HANGUP_COMPLETE: ['switch_core_state_machine.c', 'switch_core_session_reporting_state', 957],
  CHANNEL_DESTROY: ['switch_core_session.c', 'switch_core_session_perform_destroy', 1726],
  CHANNEL_HOLD: ['switch_channel.c', 'switch_channel_perform_set_flag', 1333],
  CHANNEL_UNHOLD: ['switch_channel.c', 'switch_channel_perform_clear_flag', 1500],
  DTMF: ['switch_channel.c', 'switch_channel_queue_dtmf', 516],
  PLAYBACK_START: ['switch_ivr_play_say.c', 'switch_ivr_play_file', 1523],
  PLAYBACK_STOP: ['switch_ivr_play_say.c', 'switch_ivr_play_file', 2003],
  RECORD_START: ['switch_ivr_play_say.c', 'switch_ivr_record_file_event', 403],
  RECORD_STOP: ['switch_ivr_play_say.c', 'switch_ivr_record_file_event', 851],
  BACKGROUND_JOB: ['mod_event_socket.c', 'api_exec', 1580],
  HEARTBEAT: ['switch_core.c', 'send_heartbeat', 95],
  CUSTOM: ['sofia_reg.c', 'sofia_reg_handle_register_token', 2080],
  CONFERENCE: ['mod_conference.c', 'conference_event_send', 1],
} as const satisfies Record<string, readonly [string, string, number]>;
