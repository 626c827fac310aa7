// A small XML-dialplan stand-in: destination regex -> actions ($1.. from the match); contexts; inline dialplans;
// transfers.
import type { SwitchCore } from './core.js';
import type { Channel } from './channel.js';

export interface DialplanAction {
  app: string;
  arg?: string;
}
export interface DialplanRule {
  /** regex on Caller-Destination-Number */
  match: RegExp | string;
  actions: DialplanAction[];
  /** context the rule belongs to (default: any) */
  context?: string;
}

/** what the parked hotline calls do when no CTI takes them (freeswitch-conf/dialplan/hotline.xml) */
export interface ParkFallback {
  /** seconds before `sched_transfer` moves the call to cti_fallback (the overlay's hotline_park_fallback_seconds) */
  afterSec?: number;
  /** the busy prompt (the overlay's hotline_busy_prompt) */
  prompt?: string;
}
export const DEFAULT_FALLBACK_SEC = 8;
export const DEFAULT_BUSY_PROMPT = '/usr/share/freeswitch/sounds/hotline/busy-zh.wav';

/**
 * The emulator's default dialplan, as freeswitch-conf's: 12345 and 96xxx are parked for the CTI after
 * `sched_transfer +N cti_fallback XML hotline` (the CTI cancels it with `sched_del <uuid>`); context hotline's
 * cti_fallback plays the busy prompt and the Chinese busy tone. `false` = the traces' rig: a plain park.
 */
export function defaultRules(fallback: ParkFallback | false = {}): DialplanRule[] {
  if (fallback === false) return [
    { match: /^12345$/, actions: [{ app: 'park' }] },
    { match: /^96\d{3}$/, actions: [{ app: 'park' }] },
  ];
  const after = fallback.afterSec ?? DEFAULT_FALLBACK_SEC;
  const park: DialplanAction[] = [
    { app: 'set', arg: 'hotline_did=$1' },
    { app: 'sched_transfer', arg: `+${after} cti_fallback XML hotline` },
    { app: 'park' },
  ];
  return [
    { match: /^(12345|96\d{3})$/, actions: park },
    {
      match: /^cti_fallback$/,
      context: 'hotline',
      actions: [
        { app: 'log', arg: 'WARNING hotline: no CTI took ${uuid} (${caller_id_number} to ${hotline_did}) in time; playing the busy prompt' },
        { app: 'set', arg: 'hotline_fallback=busy' },
        { app: 'answer' },
        { app: 'sleep', arg: '300' },
        { app: 'playback', arg: '$${hotline_busy_prompt}' },
        { app: 'playback', arg: 'tone_stream://%(350,350,450);loops=8' },
        { app: 'hangup', arg: 'NORMAL_CLEARING' },
      ],
    },
  ];
}

/** the golden traces' recording rig (fs-traces/recorder/conf-switch/dialplan/public.xml): park 12345 */
export const TRACE_RULES: DialplanRule[] = [{ match: /^12345$/, context: 'public', actions: [{ app: 'park' }] }];

export class Dialplan {
  rules: DialplanRule[];
  constructor(private readonly core: SwitchCore, rules: DialplanRule[] = defaultRules()) {
    this.rules = rules;
    core.routeCall = (ch) => this.run(ch);
  }

  /** find the extension for the channel's destination and run its actions */
  run(ch: Channel): void {
    const dest = ch.profile.destination;
    const ctx = ch.profile.context;
    let m: RegExpExecArray | null = null;
    const rule = this.rules.find((r) => (!r.context || r.context === ctx) && (m = (typeof r.match === 'string' ? new RegExp(r.match) : r.match).exec(dest)) !== null);
    if (!rule || !m) {
      this.core.hangup(ch, 'NO_ROUTE_DESTINATION');
      return;
    }
    // the condition's captures fill $1..$9 in the action data, as in the XML dialplan
    const caps: RegExpExecArray = m;
    const actions = rule.actions.map((a) => (a.arg?.includes('$') ? { app: a.app, arg: a.arg.replace(/\$(\d)/g, (_s, d: string) => caps[Number(d)] ?? '') } : a));
    this.runActions(ch, actions);
  }

  /** execute actions one after the other; when they are exhausted the call is hung up (nothing follows) */
  runActions(ch: Channel, actions: DialplanAction[], i = 0): void {
    const core = this.core;
    if (!ch.alive) return;
    const a = actions[i];
    if (!a) {
      core.hangup(ch, 'NORMAL_CLEARING');
      return;
    }
    core.execute(ch, a.app, expand(core, ch, a.arg ?? ''), () => {
      // an app that left because the channel went elsewhere (transfer, bridge) ends this extension
      if (ch.alive && !this.core.moved.has(ch)) this.runActions(ch, actions, i + 1);
      this.core.moved.delete(ch);
    });
  }

  /** "park:,playback:/x.wav" or "conference:tw-1@default" (inline dialplan) */
  static parseInline(s: string): DialplanAction[] {
    return s.split(',').filter(Boolean).map((part) => {
      const i = part.indexOf(':');
      return i < 0 ? { app: part.trim() } : { app: part.slice(0, i).trim(), arg: part.slice(i + 1) };
    });
  }

  /** move an answered/parked channel to a new extension (uuid_transfer, park_timeout) */
  transfer(ch: Channel, dest: string, dialplan = 'XML', context = ch.profile.context, prevDest = ch.profile.destination): void {
    const core = this.core;
    if (!ch.alive) return;
    core.moved.add(ch);
    // a transfer starts a new caller profile with the new destination (an inline one only while routing)
    ch.profile.destination = dest;
    const br = core.bridges.get(ch);
    if (br) {
      // the partner is hung up; this leg fires UNBRIDGE (if it is the A side) and moves on
      const other = br.a === ch ? br.b : br.a;
      if (other.alive) core.hangup(other, 'NORMAL_CLEARING');
      else core.endBridge(br, other);
    }
    core.stopAllApps(ch, 'transfer');
    ch.profile.transferMs = core.now();
    ch.setVar('transfer_source', `${Math.floor(core.now() / 1000)}:uuid_transfer:${dest}/${context}/${dialplan}`);
    if (dialplan !== 'inline') ch.profile.context = context;
    if (ch.direction === 'outbound') {
      // an outbound leg shows its original caller id again
      ch.profile.cidNumber = ch.profile.origCidNumber ?? ch.profile.cidNumber;
      ch.profile.cidName = undefined;
    }
    // an answered inbound leg passes through RINGING while it is routed again
    const flip = ch.callState === 'ACTIVE' && ch.direction === 'inbound';
    ch.state = 'CS_ROUTING';
    if (flip) core.setCallState(ch, 'RINGING');
    core.setState(ch, 'CS_ROUTING');
    if (dialplan === 'inline') ch.profile.destination = prevDest;
    ch.state = 'CS_EXECUTE';
    if (flip) core.setCallState(ch, 'ACTIVE');
    core.setState(ch, 'CS_EXECUTE');
    core.moved.delete(ch);
    if (dialplan === 'inline') this.runActions(ch, Dialplan.parseInline(dest));
    else this.run(ch);
  }
}

/** ${var} expansion from channel then global variables (eval, dialplan args) */
export function expand(core: SwitchCore, ch: Channel | undefined, s: string): string {
  if (!s.includes('${') && !s.includes('$${')) return s;
  return s.replace(/\$\$?\{([^}]+)\}/g, (_m, name: string) => ch?.getVar(name) ?? core.globals.get(name) ?? '');
}
