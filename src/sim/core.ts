// The switch core: channel registry, event emission, channel life cycle (state machine), application runtime.
// Bridging, originate, apps, api commands and the world's endpoints live in their own files and drive this.
import { randomUUID } from 'node:crypto';
import type { Clock, TimerHandle } from './clock.js';
import { Channel, CALLSTATE_NUMBER, newProfile } from './channel.js';
import type { CallState, ChannelState, CallerProfile } from './channel.js';
import { EslEvent, EventFactory, FIRED_AT, localStamp, microStamp } from './event.js';
import type { Headers, SwitchIdentity } from './event.js';
import { Q850, CAUSE_TO_SIP } from './causes.js';

/** what the far end of a switch-side leg (a simulated phone/caller/outside number) is told by the switch */
export interface FarEnd {
  /** the switch hung up this leg (cause as seen by the switch) */
  onSwitchHangup?(ch: Channel, cause: string): void;
  /** the switch answered / pre-answered an inbound leg */
  onSwitchAnswer?(ch: Channel): void;
  /** what the party on this leg hears changed ('' = silence) */
  onHear?(ch: Channel, source: string): void;
  /** the switch sent the phone a BroadSoft remote-control NOTIFY (uuid_phone_event: Event: talk | hold) */
  onPhoneEvent?(ch: Channel, event: 'talk' | 'hold'): void;
}

export interface RunningApp {
  readonly name: string;
  readonly arg: string;
  readonly appUuid: string;
  readonly ch: Channel;
  /** the app leaves; it must emit its own stop events, then call finish */
  stop(reason: StopReason): void;
  /** digits reaching the app (after the DTMF event) */
  dtmf?(digit: string): void;
  /** what this app makes the party hear, if anything */
  media?: string;
  finished: boolean;
  finish(response: string): void;
}
export type StopReason = 'hangup' | 'break' | 'transfer' | 'bridge' | 'kick';

export interface CoreOptions {
  clock: Clock;
  identity?: Partial<SwitchIdentity>;
  /** sessions per second limit shown by status/heartbeat */
  maxSessions?: number;
}

/** a bridge between two legs; CHANNEL_BRIDGE/UNBRIDGE fire on `a` only */
export interface Bridge {
  a: Channel;
  b: Channel;
  /** uuid_bridge (A keeps CS_SOFT_EXECUTE) or the bridge application running on A */
  kind: 'uuid_bridge' | 'app';
  /** the bridge app's run on A, finished when the bridge ends */
  app?: RunningApp;
}

export class SwitchCore {
  readonly clock: Clock;
  readonly channels = new Map<string, Channel>();
  readonly events: EventFactory;
  readonly identity: SwitchIdentity;
  readonly globals = new Map<string, string>();
  readonly startedMs: number;
  private readonly listeners = new Set<(e: EslEvent) => void>();
  readonly apps = new WeakMap<Channel, RunningApp[]>();
  readonly bridges = new Map<Channel, Bridge>();
  sessionsSinceStartup = 0;
  sessionPeak = 0;
  maxSessions: number;
  /** app implementations, installed by apps.ts */
  appTable: Record<string, (run: AppRun) => void> = {};
  /** dialplan hook, installed by dialplan.ts: runs the extension for a channel in CS_EXECUTE */
  routeCall: (ch: Channel) => void = () => undefined;
  /** called when a leg is gone (world bookkeeping, conference, eavesdrop) */
  readonly onDestroy = new Set<(ch: Channel) => void>();
  readonly onHangupHooks = new Set<(ch: Channel) => void>();
  /** channels whose current extension was abandoned (transfer, uuid_bridge): its next action must not run */
  readonly moved = new WeakSet<Channel>();

  constructor(opts: CoreOptions) {
    this.clock = opts.clock;
    this.identity = {
      coreUuid: randomUUID(),
      hostname: 'sim',
      switchname: 'sim',
      ipv4: '127.0.0.1',
      ipv6: '::1',
      ...opts.identity,
    };
    this.events = new EventFactory(this.identity, () => this.clock.now());
    this.startedMs = this.clock.now();
    this.maxSessions = opts.maxSessions ?? 1000;
    this.globals.set('hold_music', 'local_stream://moh');
  }

  now(): number {
    return this.clock.now();
  }
  later(ms: number, fn: () => void): TimerHandle {
    return this.clock.setTimeout(fn, ms);
  }

  // ---- events ---------------------------------------------------------------------------------
  subscribe(fn: (e: EslEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
  emit(e: EslEvent): void {
    for (const l of this.listeners) l(e);
  }
  hasListeners(): boolean {
    return this.listeners.size > 0;
  }

  /** fire a channel event with the header layout of the real switch */
  fire(
    ch: Channel,
    name: keyof typeof FIRED_AT | string,
    o: { pre?: Headers; post?: Headers; caller?: boolean; vars?: boolean; where?: readonly [string, string, number] } = {},
  ): void {
    if (!this.listeners.size) return;
    const where = o.where ?? (FIRED_AT as Record<string, readonly [string, string, number]>)[name] ?? FIRED_AT.CHANNEL_STATE;
    const h = this.events.core(name, where);
    if (o.pre) Object.assign(h, o.pre);
    ch.basic(h);
    if (o.post) Object.assign(h, o.post);
    if (o.caller !== false) ch.profiles(h);
    if (o.vars !== false) ch.variables(h);
    this.emit(new EslEvent(name, h));
  }

  setState(ch: Channel, s: ChannelState): void {
    ch.state = s;
    // the caller profile is attached after CS_NEW; state events never carry variables
    this.fire(ch, 'CHANNEL_STATE', { caller: s !== 'CS_NEW', vars: false });
  }
  setCallState(ch: Channel, cs: CallState): void {
    const orig = ch.callState;
    if (orig === cs) return;
    ch.callState = cs;
    this.fire(ch, 'CHANNEL_CALLSTATE', {
      pre: { 'Original-Channel-Call-State': orig, 'Channel-Call-State-Number': String(CALLSTATE_NUMBER[cs]) },
      vars: false,
    });
  }

  // ---- channel life cycle ------------------------------------------------------------------------
  register(ch: Channel): void {
    ch.firstDestination = ch.profile.destination;
    this.channels.set(ch.uuid, ch);
    this.sessionsSinceStartup++;
    if (this.channels.size > this.sessionPeak) this.sessionPeak = this.channels.size;
  }

  newProfile(p: Partial<CallerProfile> & { cidNumber: string; destination: string; source: string; context: string }): CallerProfile {
    return newProfile(this.now(), p);
  }

  /** an inbound SIP call arrives: CS_NEW, CS_INIT, CHANNEL_CREATE, routing, then the dialplan */
  inbound(opts: { uuid?: string; cidNumber: string; cidName?: string; destination: string; host?: string; context?: string; farEnd?: FarEnd; vars?: Record<string, string> }): Channel {
    const host = opts.host ?? '127.0.0.1';
    const uuid = opts.uuid ?? randomUUID();
    const name = `sofia/internal/${opts.cidNumber}@${host}`;
    const ch = new Channel(uuid, name, 'inbound', this.newProfile({
      username: opts.cidNumber,
      dialplan: 'XML',
      cidName: opts.cidName ?? opts.cidNumber,
      cidNumber: opts.cidNumber,
      origCidName: opts.cidName ?? opts.cidNumber,
      origCidNumber: opts.cidNumber,
      networkAddr: host,
      destination: opts.destination,
      source: 'mod_sofia',
      context: opts.context ?? 'public',
    }));
    ch.presenceId = `${opts.cidNumber}@${host}`;
    ch.owner = opts.farEnd;
    const now = this.now();
    const v = ch.vars;
    v.set('direction', 'inbound');
    v.set('uuid', uuid);
    v.set('call_uuid', uuid);
    v.set('session_id', String(this.sessionsSinceStartup + 1));
    v.set('sip_from_user', opts.cidNumber);
    v.set('sip_from_uri', `${opts.cidNumber}@${host}`);
    v.set('sip_from_host', host);
    v.set('channel_name', name);
    v.set('sip_call_id', randomUUID());
    v.set('sip_network_ip', host);
    v.set('sip_network_port', '5090');
    v.set('sip_invite_stamp', microStamp(now));
    v.set('sofia_profile_name', 'internal');
    v.set('sip_req_user', opts.destination);
    v.set('sip_to_user', opts.destination);
    v.set('sip_user_agent', 'FreeSWITCH-mod_sofia/1.11.3-dev~64bit');
    v.set('presence_id', `${opts.cidNumber}@${host}`);
    v.set('endpoint_disposition', 'DELAYED NEGOTIATION');
    if (opts.vars) for (const k in opts.vars) v.set(k, opts.vars[k]!);
    this.register(ch);
    this.setState(ch, 'CS_NEW');
    this.setState(ch, 'CS_INIT');
    this.fire(ch, 'CHANNEL_CREATE');
    ch.state = 'CS_ROUTING';
    this.setCallState(ch, 'RINGING');
    this.setState(ch, 'CS_ROUTING');
    this.setState(ch, 'CS_EXECUTE');
    this.routeCall(ch);
    return ch;
  }

  /** 183 with SDP: early media */
  preAnswer(ch: Channel): void {
    if (!ch.alive || ch.answerState !== 'ringing') return;
    ch.answerState = 'early';
    ch.media = true;
    ch.profile.progressMediaMs = this.now();
    this.fire(ch, 'CHANNEL_PROGRESS_MEDIA');
    this.setCallState(ch, 'EARLY');
    (ch.owner as FarEnd | undefined)?.onSwitchAnswer?.(ch);
  }

  answer(ch: Channel): void {
    if (!ch.alive || ch.answered) return;
    if (ch.direction === 'inbound' && ch.answerState === 'ringing') this.preAnswer(ch);
    ch.answerState = 'answered';
    ch.media = true;
    ch.profile.answeredMs = this.now();
    ch.setVar('endpoint_disposition', 'ANSWER');
    this.fire(ch, 'CHANNEL_ANSWER');
    this.setCallState(ch, 'ACTIVE');
    if (ch.direction === 'inbound') (ch.owner as FarEnd | undefined)?.onSwitchAnswer?.(ch);
  }

  /** hang a leg up: HANGUP, apps leave, bridge partner handled, then HANGUP_COMPLETE and DESTROY */
  hangup(ch: Channel, cause = 'NORMAL_CLEARING', opts: { fromFarEnd?: boolean } = {}): void {
    if (!ch.alive) return;
    const answeredBefore = ch.answered;
    ch.answerState = 'hangup';
    ch.hangupCause = cause;
    ch.profile.hangupMs = this.now();
    ch.setVar('hangup_cause', cause);
    ch.setVar('hangup_cause_q850', String(Q850[cause] ?? 16));
    if (!opts.fromFarEnd) ch.setVar('sip_hangup_disposition', answeredBefore ? 'send_bye' : ch.direction === 'inbound' ? 'send_refuse' : 'send_cancel');
    if (!ch.vars.has('sip_term_status')) {
      // the SIP final status of the leg: 200 after an answer, 487 for a cancelled INVITE, else the rejection
      const st = answeredBefore ? 200 : opts.fromFarEnd || ch.direction === 'outbound' ? 487 : (CAUSE_TO_SIP[cause] ?? 480);
      ch.setVar('sip_term_status', String(st));
      ch.setVar('proto_specific_hangup_cause', `sip:${st}`);
    }
    this.fire(ch, 'CHANNEL_HANGUP');
    for (const h of this.onHangupHooks) h(ch);
    if (!opts.fromFarEnd) (ch.owner as FarEnd | undefined)?.onSwitchHangup?.(ch, cause);
    this.stopAllApps(ch, 'hangup');
    const br = this.bridges.get(ch);
    if (br) this.endBridge(br, ch);
    this.finishHangup(ch);
  }

  private finishHangup(ch: Channel): void {
    if (ch.destroyed || ch.state === 'CS_HANGUP' || ch.state === 'CS_REPORTING') return;
    this.setState(ch, 'CS_HANGUP');
    this.setCallState(ch, 'HANGUP');
    ch.state = 'CS_REPORTING';
    this.cdrVars(ch);
    this.setState(ch, 'CS_REPORTING');
    this.fire(ch, 'CHANNEL_HANGUP_COMPLETE', { where: FIRED_AT.CHANNEL_HANGUP_COMPLETE });
    this.destroy(ch);
  }

  destroy(ch: Channel): void {
    if (ch.destroyed) return;
    // the session leaves its call: call_uuid is its own again
    ch.vars.set('call_uuid', ch.uuid);
    this.fire(ch, 'CHANNEL_DESTROY');
    ch.destroyed = true;
    this.channels.delete(ch.uuid);
    this.setState(ch, 'CS_DESTROY');
    for (const h of this.onDestroy) h(ch);
  }

  /** CDR-ish variables the switch adds before HANGUP_COMPLETE */
  private cdrVars(ch: Channel): void {
    const p = ch.profile;
    const end = p.hangupMs || this.now();
    const v = ch.vars;
    const sec = (ms: number): string => String(Math.floor(ms / 1000));
    v.set('start_stamp', localStamp(p.createdMs));
    if (p.answeredMs) v.set('answer_stamp', localStamp(p.answeredMs));
    if (p.bridgedMs) v.set('bridge_stamp', localStamp(p.bridgedMs));
    v.set('end_stamp', localStamp(end));
    v.set('start_epoch', sec(p.createdMs));
    v.set('start_uepoch', microStamp(p.createdMs));
    v.set('answer_epoch', p.answeredMs ? sec(p.answeredMs) : '0');
    v.set('answer_uepoch', p.answeredMs ? microStamp(p.answeredMs) : '0');
    v.set('end_epoch', sec(end));
    v.set('end_uepoch', microStamp(end));
    v.set('last_app', v.get('current_application') ?? '');
    v.set('caller_id', `"${p.cidName ?? p.cidNumber}" <${p.cidNumber}>`);
    const dur = end - p.createdMs;
    const bill = p.answeredMs ? end - p.answeredMs : 0;
    const wait = p.answeredMs ? p.answeredMs - p.createdMs : 0;
    v.set('duration', sec(dur));
    v.set('billsec', sec(bill));
    v.set('progresssec', p.progressMs ? sec(p.progressMs - p.createdMs) : '0');
    v.set('answersec', sec(wait));
    v.set('waitsec', sec(wait));
    v.set('mduration', String(Math.round(dur)));
    v.set('billmsec', String(Math.round(bill)));
    v.set('answermsec', String(Math.round(wait)));
    v.set('waitmsec', String(Math.round(wait)));
    v.set('uduration', String(Math.round(dur * 1000)));
    v.set('billusec', String(Math.round(bill * 1000)));
  }

  // ---- applications ------------------------------------------------------------------------------
  appStack(ch: Channel): RunningApp[] {
    let s = this.apps.get(ch);
    if (!s) this.apps.set(ch, (s = []));
    return s;
  }
  topApp(ch: Channel): RunningApp | undefined {
    const s = this.apps.get(ch);
    return s ? s[s.length - 1] : undefined;
  }
  isParked(ch: Channel): boolean {
    const s = this.apps.get(ch);
    return !!s && s.length > 0 && s[0]!.name === 'park';
  }

  /** run an application: CHANNEL_EXECUTE, the app, CHANNEL_EXECUTE_COMPLETE, then `then(response)` */
  execute(ch: Channel, name: string, arg: string, then?: (response: string) => void, appUuid: string = randomUUID()): void {
    if (!ch.alive) return;
    const impl = this.appTable[name];
    ch.setVar('current_application', name);
    if (arg) ch.setVar('current_application_data', arg);
    else ch.vars.delete('current_application_data');
    const post: Headers = { Application: name };
    if (arg) post['Application-Data'] = arg;
    post['Application-UUID'] = appUuid;
    this.fire(ch, 'CHANNEL_EXECUTE', { post });
    const stack = this.appStack(ch);
    const run = new AppRun(this, ch, name, arg, appUuid, (resp) => {
      const i = stack.indexOf(run);
      if (i >= 0) stack.splice(i, 1);
      ch.setVar('current_application_response', resp);
      const p2: Headers = { Application: name };
      if (arg) p2['Application-Data'] = arg;
      p2['Application-Response'] = resp;
      p2['Application-UUID'] = appUuid;
      this.fire(ch, 'CHANNEL_EXECUTE_COMPLETE', { post: p2 });
      this.updateHearing(ch);
      then?.(resp);
    });
    stack.push(run);
    if (!impl) {
      // unknown application: the real switch logs "Invalid Application" and hangs up
      run.finish('_none_');
      this.hangup(ch, 'DESTINATION_OUT_OF_ORDER');
      return;
    }
    impl(run);
    this.updateHearing(ch);
  }

  /** stop every app on the channel, newest first */
  stopAllApps(ch: Channel, reason: StopReason): void {
    const s = this.apps.get(ch);
    if (!s) return;
    // bounded: an app's stop may start another (park after bridge), which is then stopped too
    for (let guard = 0; s.length && guard < 64; guard++) {
      const top = s[s.length - 1]!;
      top.stop(reason);
      if (s[s.length - 1] === top) s.pop(); // an app that did not finish itself
    }
  }
  /** stop apps running on top of park (uuid_break, a new media op) */
  breakNested(ch: Channel, reason: StopReason = 'break'): void {
    const s = this.apps.get(ch);
    if (!s) return;
    for (let guard = 0; s.length && !(s.length === 1 && s[0]!.name === 'park') && guard < 64; guard++) {
      const top = s[s.length - 1]!;
      top.stop(reason);
      if (s[s.length - 1] === top) s.pop();
    }
  }

  dtmf(ch: Channel, digit: string, source = 'RTP'): void {
    if (!ch.alive) return;
    this.fire(ch, 'DTMF', { post: { 'DTMF-Digit': digit, 'DTMF-Duration': '2080', 'DTMF-Source': source }, vars: false });
    const handler = this.dtmfInterceptors.get(ch);
    if (handler && handler(digit)) return;
    const top = this.topApp(ch);
    top?.dtmf?.(digit);
  }
  /** a consumer that sees digits before the apps (group_confirm, eavesdrop DTMF) */
  readonly dtmfInterceptors = new Map<Channel, (digit: string) => boolean>();

  // ---- media bookkeeping (what each party hears) ---------------------------------------------------
  /** extra sources computed by other modules (bridge partner, conference, eavesdrop) */
  hearingProviders: Array<(ch: Channel) => string | undefined> = [];
  /** sources heard on top of the main one (a supervisor's whisper) */
  hearingOverlays: Array<(ch: Channel) => string[]> = [];
  private heard = new WeakMap<Channel, string>();
  updateHearing(ch: Channel): void {
    const fe = ch.owner as FarEnd | undefined;
    if (!fe?.onHear) return;
    let src = '';
    if (ch.alive) {
      const s = this.apps.get(ch);
      if (s) for (let i = s.length - 1; i >= 0 && !src; i--) src = s[i]!.media ?? '';
      for (const p of this.hearingProviders) {
        if (src) break;
        src = p(ch) ?? '';
      }
      for (const o of this.hearingOverlays) for (const x of o(ch)) src = src ? `${src} + ${x}` : x;
    }
    if (this.heard.get(ch) === src) return;
    this.heard.set(ch, src);
    fe.onHear(ch, src);
  }

  // ---- bridges ---------------------------------------------------------------------------------------
  /** end a bridge because `leaving` hangs up (or is taken away); the other side follows its after-bridge rule */
  endBridge(br: Bridge, leaving: Channel, opts: { keepOther?: boolean; cause?: string } = {}): void {
    const other = br.a === leaving ? br.b : br.a;
    this.bridges.delete(br.a);
    this.bridges.delete(br.b);
    br.a.partner = undefined;
    br.b.partner = undefined;
    // a leg that is moving elsewhere (transfer, new bridge) does not follow the after-bridge rules
    const keep = opts.keepOther || this.moved.has(other);
    if (leaving === br.a) {
      // A leaves: B goes first, then A's UNBRIDGE
      if (!keep && other.alive) this.hangupPartnerOf(other, br);
      this.fire(br.a, 'CHANNEL_UNBRIDGE', { pre: { 'Bridge-A-Unique-ID': br.a.uuid, 'Bridge-B-Unique-ID': br.b.uuid } });
      if (br.app && !br.app.finished) br.app.finish('_none_');
    } else {
      this.fire(br.a, 'CHANNEL_UNBRIDGE', { pre: { 'Bridge-A-Unique-ID': br.a.uuid, 'Bridge-B-Unique-ID': br.b.uuid } });
      if (!keep && other.alive) this.afterBridge(other, br);
    }
    this.updateHearing(br.a);
    this.updateHearing(br.b);
  }

  /** A is going away: its partner B is hung up the way the switch does it */
  private hangupPartnerOf(b: Channel, _br: Bridge): void {
    if (b.vars.get('park_after_bridge') === 'true') {
      this.parkAfterBridge(b);
      return;
    }
    this.hangup(b, 'NORMAL_CLEARING');
  }

  /** the partner left; `ch` follows hangup_after_bridge / park_after_bridge / the rest of its app chain */
  afterBridge(ch: Channel, br: Bridge): void {
    if (ch.vars.get('park_after_bridge') === 'true') {
      this.parkAfterBridge(ch);
      return;
    }
    if (br.kind === 'app' && br.a === ch && br.app && !br.app.finished) {
      // the bridge app returns; what follows decides (nothing follows &bridge: hang up)
      br.app.finish('_none_');
      return;
    }
    if (ch.state !== 'CS_EXECUTE') this.setState(ch, 'CS_EXECUTE');
    this.hangup(ch, 'NORMAL_CLEARING');
  }

  parkAfterBridge(ch: Channel): void {
    this.setState(ch, 'CS_PARK');
    this.fire(ch, 'CHANNEL_PARK');
    const stack = this.appStack(ch);
    // a park without CHANNEL_EXECUTE: leaving it gives UNPARK only
    const run = new AppRun(this, ch, 'park', '', randomUUID(), () => {
      const i = stack.indexOf(run);
      if (i >= 0) stack.splice(i, 1);
    });
    run.silentPark = true;
    stack.push(run);
    run.stop = () => {
      this.fire(ch, 'CHANNEL_UNPARK');
      run.finish('');
    };
  }
}

/** one running application on a channel */
export class AppRun implements RunningApp {
  finished = false;
  media?: string;
  dtmf?: (digit: string) => void;
  private stopHandler?: (reason: StopReason) => void;
  private timers: TimerHandle[] = [];
  silentPark = false;
  constructor(
    readonly core: SwitchCore,
    readonly ch: Channel,
    readonly name: string,
    readonly arg: string,
    readonly appUuid: string,
    private readonly done: (response: string) => void,
  ) {}
  onStop(fn: (reason: StopReason) => void): void {
    this.stopHandler = fn;
  }
  stop(reason: StopReason): void {
    if (this.finished) return;
    if (this.stopHandler) this.stopHandler(reason);
    else this.finish('_none_');
  }
  finish(response: string): void {
    if (this.finished) return;
    this.finished = true;
    for (const t of this.timers) this.core.clock.clearTimeout(t);
    this.timers = [];
    this.done(response);
  }
  later(ms: number, fn: () => void): TimerHandle {
    const t = this.core.clock.setTimeout(() => {
      if (!this.finished) fn();
    }, ms);
    this.timers.push(t);
    return t;
  }
  setMedia(src: string | undefined): void {
    this.media = src;
    this.core.updateHearing(this.ch);
  }
}
