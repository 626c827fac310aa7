// The outside world, simulated in-process: citizens who dial in, agents' SIP phones, numbers behind gateways.
// Each is driven by a TypeScript API; what each party hears is kept as a media timeline.
import type { SwitchCore, FarEnd } from './core.js';
import type { Channel } from './channel.js';
import type { Directory } from './directory.js';
import type { OutboundLeg, OutboundTarget, WorldPort } from './originate.js';
import type { EslEvent } from './event.js';
import { CAUSE_TO_SIP } from './causes.js';

/** DTMF reaches the switch at the end of the 2080-sample digit (observed 260-290 ms) */
export const DTMF_DELAY_MS = 280;

export interface HeardSegment {
  /** emulator clock, ms */
  from: number;
  to?: number;
  /** 'file:<path>' | 'tone:<spec>' | 'moh' | 'party:<label>' | 'conference:<name>' | 'whisper:<label>' | 'silence' */
  what: string;
}

/** one simulated party's side of a call (a world channel) */
export class SimLeg implements FarEnd {
  ch?: Channel;
  readonly heard: HeardSegment[] = [];
  ended = false;
  endCause?: string;
  /** audio the party sends (for record/silence detection), Hz; 0 = silent */
  toneHz = 0;
  private talkUntil = 0;
  readonly dtmfHeard: string[] = [];
  private waiters: Array<{ pred: (e: EslEvent) => boolean; resolve: (e: EslEvent) => void }> = [];
  outbound?: OutboundLeg;

  constructor(
    protected readonly world: World,
    readonly label: string,
  ) {}

  get uuid(): string | undefined {
    return this.ch?.uuid;
  }
  protected get core(): SwitchCore {
    return this.world.core;
  }

  /** is the party making sound now */
  talking(): boolean {
    return this.core.now() < this.talkUntil;
  }
  /** send audio for ms (default: until silence()) */
  speak(ms = Infinity, hz = 440): this {
    this.toneHz = hz;
    this.talkUntil = this.core.now() + ms;
    return this;
  }
  silence(): this {
    this.talkUntil = 0;
    return this;
  }

  /** press keys (RFC 2833): each DTMF event reaches the switch ~280 ms after its key; keys 100 ms apart */
  press(digits: string, gapMs = 100): this {
    let t = DTMF_DELAY_MS;
    for (const d of digits) {
      this.core.later(t, () => {
        if (this.ch && this.ch.alive) this.core.dtmf(this.ch, d);
      });
      t += DTMF_DELAY_MS + gapMs;
    }
    return this;
  }

  /** hang up from the far end */
  hangup(cause = 'NORMAL_CLEARING'): this {
    const ch = this.ch;
    if (!ch || !ch.alive) return this;
    this.markEnded(cause);
    if (this.outbound && !this.outbound.done) {
      this.outbound.reject(cause, CAUSE_TO_SIP[cause]);
      return this;
    }
    const inboundUnanswered = ch.direction === 'inbound' && !ch.answered;
    ch.setVar('sip_hangup_disposition', inboundUnanswered ? 'recv_cancel' : 'recv_bye');
    this.core.hangup(ch, inboundUnanswered ? 'ORIGINATOR_CANCEL' : cause, { fromFarEnd: true });
    return this;
  }

  /** hang up after ms */
  hangupAfter(ms: number, cause?: string): this {
    this.core.later(ms, () => this.hangup(cause));
    return this;
  }
  /** hang up when an event with this name (or matching the predicate) fires on this leg's channel, after delayMs */
  hangupOn(name: string | ((e: EslEvent) => boolean), delayMs = 0, cause?: string): this {
    void this.waitFor(name).then(() => this.core.later(delayMs, () => this.hangup(cause)));
    return this;
  }

  protected markEnded(cause: string): void {
    if (this.ended) return;
    this.ended = true;
    this.endCause = cause;
    const last = this.heard[this.heard.length - 1];
    if (last && last.to === undefined) last.to = this.core.now();
  }

  // FarEnd
  onSwitchHangup(_ch: Channel, cause: string): void {
    this.markEnded(cause);
  }
  onHear(_ch: Channel, source: string): void {
    const now = this.core.now();
    const last = this.heard[this.heard.length - 1];
    if (last && last.to === undefined) last.to = now;
    this.heard.push({ from: now, what: this.world.describe(source) });
  }
  onSwitchDtmf(_ch: Channel, digits: string): void {
    this.dtmfHeard.push(...digits.split(''));
  }

  /** what the party hears right now */
  hearing(): string {
    const last = this.heard[this.heard.length - 1];
    return last && last.to === undefined ? last.what : 'silence';
  }

  /** resolves with the first event on this leg's switch channel that matches */
  waitFor(name: string | ((e: EslEvent) => boolean)): Promise<EslEvent> {
    const pred = typeof name === 'string' ? (e: EslEvent) => e.name === name : name;
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }
  /** internal: event on this leg's channel */
  notify(e: EslEvent): void {
    if (!this.waiters.length) return;
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(e)) return true;
      w.resolve(e);
      return false;
    });
  }
}

/** a citizen calling the hotline */
export class SimCaller extends SimLeg {
  constructor(world: World, readonly from: string, readonly to: string) {
    super(world, from);
  }
}

export type RingBehaviour =
  | { kind: 'manual' }
  | { kind: 'answer'; afterMs?: number }
  | { kind: 'reject'; cause?: 'USER_BUSY' | 'CALL_REJECTED' | string; afterMs?: number }
  | { kind: 'noanswer' };

/** an incoming call at a phone / outside number */
export class SimIncoming extends SimLeg {
  /** BroadSoft remote-control NOTIFYs this leg received (uuid_phone_event) */
  readonly phoneEvents: Array<'talk' | 'hold'> = [];
  constructor(world: World, label: string, readonly target: OutboundTarget, ctl: OutboundLeg, private readonly remoteControl = false) {
    super(world, label);
    this.outbound = ctl;
    this.ch = ctl.ch;
  }
  /** NOTIFY Event: talk answers a ringing call on phones that support remote control (Polycom, Yealink,
   *  Grandstream); other endpoints (mobiles behind the carrier, phones with it off) ignore it. */
  onPhoneEvent(_ch: Channel, event: 'talk' | 'hold'): void {
    this.phoneEvents.push(event);
    if (event === 'talk' && this.remoteControl && this.outbound && !this.outbound.answered && !this.ended) this.answer();
  }
  answer(): this {
    this.outbound?.answer();
    return this;
  }
  reject(cause = 'CALL_REJECTED'): this {
    if (!this.ch?.alive) return this;
    this.markEnded(cause);
    this.outbound?.reject(cause, CAUSE_TO_SIP[cause]);
    return this;
  }
}

/** something calls can be offered to: an agent's phone (user/N) or an outside number behind a gateway */
export class SimEndpoint {
  behaviour: RingBehaviour = { kind: 'answer', afterMs: 1000 };
  /** answers a ringing call on a NOTIFY Event: talk (uuid_phone_event); desk phones yes, outside numbers no */
  remoteControl = false;
  /** answers by itself an INVITE asking for it (sip_auto_answer=true / Call-Info answer-after=N); desk phones yes */
  autoAnswer = false;
  readonly calls: SimIncoming[] = [];
  private waiters: Array<(c: SimIncoming) => void> = [];
  constructor(
    protected readonly world: World,
    readonly id: string,
  ) {}

  /** newest call that is still ringing/up */
  current(): SimIncoming | undefined {
    for (let i = this.calls.length - 1; i >= 0; i--) if (!this.calls[i]!.ended && this.calls[i]!.ch?.alive) return this.calls[i];
    return undefined;
  }
  /** next call offered to this endpoint */
  nextCall(): Promise<SimIncoming> {
    return new Promise((r) => this.waiters.push(r));
  }
  set(b: RingBehaviour): this {
    this.behaviour = b;
    return this;
  }
  answer(): boolean {
    const c = this.current();
    c?.answer();
    return !!c;
  }
  reject(cause = 'CALL_REJECTED'): boolean {
    const c = this.current();
    c?.reject(cause);
    return !!c;
  }
  hangup(cause = 'NORMAL_CLEARING'): boolean {
    const c = this.current();
    c?.hangup(cause);
    return !!c;
  }

  /** internal: the switch offers a call */
  offered(ctl: OutboundLeg, target: OutboundTarget): SimIncoming {
    const core = this.world.core;
    const inc = new SimIncoming(this.world, this.id, target, ctl, this.remoteControl);
    ctl.ch.owner = inc;
    this.calls.push(inc);
    if (this.calls.length > 50) this.calls.splice(0, this.calls.length - 50);
    // ring_ready: the phone sends 180
    core.later(20, () => ctl.ring());
    const b = this.behaviour;
    // mod_sofia turns sip_auto_answer=true into Call-Info answer-after=0 (sip_h_Call-Info is sent as given); a phone
    // that honours it answers straight away, whatever its user would have done
    const callInfo = ctl.ch.vars.get('sip_h_Call-Info') ?? '';
    const askedAutoAnswer = ctl.ch.vars.get('sip_auto_answer') === 'true' || /answer-after=\d+/.test(callInfo);
    if (this.autoAnswer && askedAutoAnswer && target.kind === 'user') {
      const after = Number(/answer-after=(\d+)/.exec(callInfo)?.[1] ?? '0') * 1000;
      core.later(Math.max(60, after), () => inc.answer());
    } else if (b.kind === 'answer') core.later(Math.max(20, b.afterMs ?? 1000), () => inc.answer());
    else if (b.kind === 'reject') core.later(Math.max(20, b.afterMs ?? 500), () => inc.reject(b.cause ?? 'CALL_REJECTED'));
    for (const w of this.waiters.splice(0)) w(inc);
    return inc;
  }
}

export class SimPhone extends SimEndpoint {
  constructor(world: World, id: string, private readonly dir: Directory) {
    super(world, id);
    this.remoteControl = true;
    this.autoAnswer = true;
  }
  /** a phone with remote control (talk NOTIFY) switched off */
  withoutRemoteControl(): this {
    this.remoteControl = false;
    return this;
  }
  get registered(): boolean {
    return this.dir.isRegistered(this.id);
  }
  /** REGISTER; the switch fires sofia::register after the SIP round trip (~40 ms) */
  register(opts: { expires?: number; contactUser?: string; port?: number; agent?: string; password?: string; delayMs?: number } = {}): this {
    this.world.core.later(opts.delayMs ?? 40, () => this.dir.register(this.id, opts));
    return this;
  }
  /** the phone goes offline with an un-REGISTER (Expires: 0); sofia::unregister after the digest round trip */
  unregister(opts: { delayMs?: number } = {}): this {
    this.world.core.later(opts.delayMs ?? 140, () =>
      this.dir.unregister(this.id, { contact: `"" <sip:${this.id}@127.0.0.1:5077>`, port: 5077, agent: 'sim-phone' }),
    );
    return this;
  }
}

export class World implements WorldPort {
  readonly phones = new Map<string, SimPhone>();
  readonly outside = new Map<string, SimEndpoint>();
  readonly gateways = new Set<string>(['world']);
  readonly callers: SimCaller[] = [];
  /** behaviour for outside numbers without their own endpoint */
  defaultOutside: RingBehaviour = { kind: 'answer', afterMs: 1000 };
  private readonly legsByChannel = new Map<string, SimLeg>();

  constructor(
    readonly core: SwitchCore,
    private readonly dir: Directory,
  ) {
    core.subscribe((e) => {
      const u = e.headers['Unique-ID'];
      if (!u) return;
      const leg = this.legsByChannel.get(u);
      if (leg) leg.notify(e);
    });
    core.onDestroy.add((ch) => this.legsByChannel.delete(ch.uuid));
  }

  hasGateway(name: string): boolean {
    return this.gateways.has(name);
  }

  phone(user: string): SimPhone {
    let p = this.phones.get(user);
    if (!p) {
      if (!this.dir.users.has(user)) this.dir.addUser(user);
      p = new SimPhone(this, user, this.dir);
      this.phones.set(user, p);
    }
    return p;
  }
  number(num: string): SimEndpoint {
    let p = this.outside.get(num);
    if (!p) {
      p = new SimEndpoint(this, num);
      p.behaviour = this.defaultOutside;
      this.outside.set(num, p);
    }
    return p;
  }

  /** a citizen dials the hotline */
  dial(opts: { from: string; to?: string; name?: string; vars?: Record<string, string> }): SimCaller {
    const caller = new SimCaller(this, opts.from, opts.to ?? '12345');
    this.callers.push(caller);
    if (this.callers.length > 1000) this.callers.splice(0, this.callers.length - 1000);
    // the INVITE reaches the switch after ~20 ms
    this.core.later(20, () => {
      if (caller.ended) return;
      const ch = this.core.inbound({ cidNumber: opts.from, cidName: opts.name, destination: caller.to, farEnd: caller, vars: opts.vars });
      caller.ch = ch;
      if (ch.alive) this.legsByChannel.set(ch.uuid, caller);
    });
    return caller;
  }

  /** WorldPort: the switch calls somebody */
  offer(ch: Channel, target: OutboundTarget, ctl: OutboundLeg): void {
    const ep = target.kind === 'user' ? this.phone(target.number) : this.number(target.number);
    const inc = ep.offered(ctl, target);
    this.legsByChannel.set(ch.uuid, inc);
  }

  /** the leg object for a switch channel */
  legOf(uuid: string): SimLeg | undefined {
    return this.legsByChannel.get(uuid);
  }

  /** human-readable source for the hearing timeline */
  describe(source: string): string {
    if (!source) return 'silence';
    if (source.includes(' + ')) return source.split(' + ').map((x) => this.describe(x)).join(' + ');
    if (source.startsWith('party:')) {
      const leg = this.legsByChannel.get(source.slice(6));
      return `party:${leg?.label ?? source.slice(6)}`;
    }
    if (source.startsWith('whisper:')) {
      const leg = this.legsByChannel.get(source.slice(8));
      return `whisper:${leg?.label ?? source.slice(8)}`;
    }
    if (source.startsWith('eavesdrop:')) {
      const leg = this.legsByChannel.get(source.slice(10));
      return `eavesdrop:${leg?.label ?? source.slice(10)}`;
    }
    if (source.startsWith('conference:')) return source;
    if (source === this.core.globals.get('hold_music') || source.startsWith('local_stream://')) return `moh:${source}`;
    if (source.startsWith('tone_stream://')) return `tone:${source.slice(14)}`;
    if (source.startsWith('silence_stream://')) return 'silence';
    return `file:${source}`;
  }
}
