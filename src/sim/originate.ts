// Outbound legs: originate / bridge B-legs to user/NNNN and sofia/gateway/<gw>/<number>, with the switch's
// event order, 1 s timeout granularity, group_confirm, and the result strings of the real switch.
import { randomUUID } from 'node:crypto';
import type { SwitchCore, FarEnd } from './core.js';
import { Channel } from './channel.js';
import type { Directory } from './directory.js';
import { parseDialString } from './dialstring.js';
import type { MediaLibrary } from './media.js';
import { microStamp } from './event.js';
import type { TimerHandle } from './clock.js';

export interface OutboundTarget {
  kind: 'user' | 'gateway';
  /** directory user for user/, the called number for gateways */
  number: string;
  gateway?: string;
}

/** the world side: somebody must ring. Called once the switch leg exists (after CS_CONSUME_MEDIA). */
export interface WorldPort {
  offer(ch: Channel, target: OutboundTarget, ctl: OutboundLeg): void;
  hasGateway(name: string): boolean;
}

export type OriginateResult = { ok: true; ch: Channel } | { ok: false; cause: string };

export interface OriginateOptions {
  /** variables that apply to every leg (originate {..}) */
  vars?: Map<string, string>;
  /** A-leg of a bridge app: B gets Other-Leg = A as originator */
  aLeg?: Channel;
  onResult(r: OriginateResult): void;
  /** the answered leg is ready for its app (after the result was reported) */
  onReady?(ch: Channel): void;
}

/** control handle the world uses to drive the far end of an outbound leg */
export class OutboundLeg {
  answered = false;
  done = false;
  private timeout?: TimerHandle;
  private confirmWanted?: { key: string; file?: string };
  private confirmTimer?: TimerHandle;
  private confirmStop?: () => void;

  constructor(
    readonly core: SwitchCore,
    readonly ch: Channel,
    readonly target: OutboundTarget,
    private readonly opts: OriginateOptions,
    private readonly media: MediaLibrary,
    startedMs: number,
    timeoutSec: number,
  ) {
    const key = ch.vars.get('group_confirm_key');
    if (key) this.confirmWanted = { key, file: ch.vars.get('group_confirm_file') };
    // originate_timeout is checked once a second, measured from the originate: N s fire after N-0.7 s
    const ms = Math.max(300, timeoutSec * 1000 - 700) - (core.now() - startedMs);
    this.timeout = core.later(ms, () => this.fail('NO_ANSWER'));
  }

  /** the phone rings: 180 */
  ring(): void {
    const { core, ch } = this;
    if (this.done || !ch.alive || ch.callState !== 'DOWN') return;
    ch.profile.progressMs = core.now();
    ch.setVar('progress_uepoch', microStamp(core.now()));
    // the 180 names the far end (Remote-Party-ID) and gives the network address
    ch.profile.calleeName = this.target.number;
    ch.profile.calleeNumber = this.target.number;
    ch.profile.networkAddr = '127.0.0.1';
    core.fire(ch, 'CHANNEL_PROGRESS');
    core.setCallState(ch, 'RINGING');
  }

  /** the far end answers: 200 OK */
  answer(): void {
    const { core, ch } = this;
    if (this.done || !ch.alive || this.answered) return;
    this.answered = true;
    if (ch.callState === 'DOWN') this.ring();
    core.answer(ch);
    if (this.target.kind === 'user') core.fire(ch, 'CHANNEL_OUTGOING', { vars: false });
    if (this.confirmWanted) {
      this.startConfirm();
      return;
    }
    this.succeed();
  }

  /** the far end rejects (486/603/...) or cancels before answer, or hangs up */
  reject(cause: string, sipStatus?: number): void {
    const { ch } = this;
    if (sipStatus) {
      ch.setVar('sip_term_status', String(sipStatus));
      ch.setVar('proto_specific_hangup_cause', `sip:${sipStatus}`);
    }
    ch.setVar('sip_hangup_disposition', this.answered ? 'recv_bye' : 'recv_refuse');
    if (this.done) {
      this.core.hangup(ch, cause, { fromFarEnd: true });
      return;
    }
    this.fail(cause, true);
  }

  /** the A side gave up (caller hung up while the B-leg rang) */
  cancel(cause = 'ORIGINATOR_CANCEL'): void {
    if (this.takenOver) return;
    this.fail(cause);
  }

  /** somebody else (intercept) took the leg: the originate reports `cause`, the leg itself stays */
  takenOver = false;
  takeOver(cause = 'ORIGINATOR_CANCEL'): void {
    this.takenOver = true;
    if (this.done) return;
    this.done = true;
    this.core.clock.clearTimeout(this.timeout);
    this.core.clock.clearTimeout(this.confirmTimer);
    this.core.dtmfInterceptors.delete(this.ch);
    this.reportLater = cause;
  }
  /** deliver a result withheld by takeOver */
  reportWithheld(): void {
    if (this.reportLater) this.opts.onResult({ ok: false, cause: this.reportLater });
    this.reportLater = undefined;
  }
  private reportLater?: string;

  /** the switch hung the leg up itself (uuid_kill, intercept PICKED_OFF, hupall) before it was answered */
  hungUp(cause: string): void {
    if (this.done) return;
    this.fail(cause);
  }

  private startConfirm(): void {
    const { core, ch } = this;
    const want = this.confirmWanted!;
    const play = (): void => {
      if (this.done || !ch.alive) return;
      const file = want.file;
      const info = file ? this.media.info(file) : undefined;
      const len = info && Number.isFinite(info.ms) ? info.ms : 0;
      if (file) core.fire(ch, 'PLAYBACK_START', { post: { 'Playback-File-Path': file } });
      let stopped = false;
      const started = core.now();
      const setPlayed = (): void => {
        const ms = Math.round(Math.min(len, core.now() - started));
        ch.setVar('playback_last_offset_pos', String(ms * 8));
        ch.setVar('playback_seconds', String(Math.floor(ms / 1000)));
        ch.setVar('playback_ms', String(ms));
        ch.setVar('playback_samples', String(ms * 8));
      };
      this.confirmStop = () => {
        if (stopped) return;
        stopped = true;
        setPlayed();
        if (file) core.fire(ch, 'PLAYBACK_STOP', { post: { 'Playback-File-Path': file, 'Playback-Status': 'break' } });
      };
      this.confirmTimer = core.later(len, () => {
        if (!stopped && file) {
          stopped = true;
          setPlayed();
          core.fire(ch, 'PLAYBACK_STOP', { post: { 'Playback-File-Path': file, 'Playback-Status': 'done' } });
        }
        this.confirmTimer = core.later(5000, play);
      });
    };
    core.dtmfInterceptors.set(ch, (d) => {
      if (this.done) return false;
      if (d === want.key) {
        ch.setVar('read_result', 'success');
        core.clock.clearTimeout(this.confirmTimer);
        this.confirmStop?.();
        core.dtmfInterceptors.delete(ch);
        this.succeed();
      }
      return true;
    });
    play();
  }

  private succeed(): void {
    if (this.done) return;
    this.done = true;
    this.core.clock.clearTimeout(this.timeout);
    // the answered leg's caller id flips: the callee becomes the caller (channel_cid_flipped)
    const p = this.ch.profile;
    const oldName = p.cidName;
    const oldNum = p.cidNumber;
    p.cidName = p.calleeName ?? this.target.number;
    p.cidNumber = p.calleeNumber ?? this.target.number;
    p.calleeName = oldName;
    p.calleeNumber = oldNum;
    this.ch.setVar('channel_cid_flipped', 'yes');
    this.opts.onResult({ ok: true, ch: this.ch });
    this.opts.onReady?.(this.ch);
  }

  private fail(cause: string, fromFarEnd = false): void {
    if (this.done) return;
    this.done = true;
    if (this.confirmWanted && this.answered) this.ch.setVar('read_result', 'failure');
    this.core.clock.clearTimeout(this.timeout);
    this.core.clock.clearTimeout(this.confirmTimer);
    this.core.dtmfInterceptors.delete(this.ch);
    if (this.ch.alive) this.core.hangup(this.ch, cause, { fromFarEnd });
    this.opts.onResult({ ok: false, cause });
  }
}

export class Originator {
  /** outbound legs by channel (for pickups and hang-ups that come from the switch side) */
  readonly pending = new WeakMap<Channel, OutboundLeg>();
  constructor(
    private readonly core: SwitchCore,
    private readonly dir: Directory,
    private readonly media: MediaLibrary,
    public world: WorldPort,
  ) {
    core.onHangupHooks.add((ch) => this.pending.get(ch)?.hungUp(ch.hangupCause ?? 'NORMAL_CLEARING'));
  }

  /** Start legs for a dial string; result reported once (first answer wins). */
  dial(dialString: string, opts: OriginateOptions): OutboundLeg[] {
    const core = this.core;
    const parsed = parseDialString(dialString);
    const leg = parsed.legs[0];
    if (!leg) {
      core.later(0, () => opts.onResult({ ok: false, cause: 'DESTINATION_OUT_OF_ORDER' }));
      return [];
    }
    const vars = new Map<string, string>([...(opts.vars ?? []), ...parsed.global, ...leg.vars]);
    const ep = leg.endpoint;
    let target: OutboundTarget;
    let chanName: string;
    let dest: string;
    let calleeNumber: string;
    let presence: string | undefined;
    const legVars = new Map<string, string>();
    let m: RegExpExecArray | null;
    if ((m = /^user\/([^@\s]+)(?:@(\S+))?$/.exec(ep))) {
      const user = m[1]!;
      const u = this.dir.users.get(user);
      if (!u) return this.failEarly(opts, 'SUBSCRIBER_ABSENT');
      const reg = this.dir.regs.get(user);
      if (!reg || !this.dir.isRegistered(user)) return this.failEarly(opts, 'USER_NOT_REGISTERED');
      target = { kind: 'user', number: user };
      const encUser = reg.contactUser.replace(/\+/g, '%2B');
      chanName = `sofia/internal/${encUser}@${reg.host}:${reg.port}`;
      dest = encUser;
      calleeNumber = reg.contactUser;
      presence = `${user}@${this.dir.domain}`;
      legVars.set('dialed_user', user);
      legVars.set('dialed_domain', this.dir.domain);
      for (const k in u.vars) legVars.set(k, u.vars[k]!);
      legVars.set('originate_endpoint', 'user');
      if (opts.aLeg) {
        opts.aLeg.setVar('dialed_user', user);
        opts.aLeg.setVar('dialed_domain', this.dir.domain);
      }
    } else if ((m = /^sofia\/gateway\/([^/\s]+)\/(\S+)$/.exec(ep))) {
      const gw = m[1]!;
      if (!this.world.hasGateway(gw)) return this.failEarly(opts, 'INVALID_GATEWAY', true);
      target = { kind: 'gateway', number: m[2]!, gateway: gw };
      chanName = `sofia/internal/${m[2]!}`;
      dest = m[2]!;
      calleeNumber = m[2]!;
      legVars.set('originate_endpoint', 'sofia');
    } else if ((m = /^sofia\/[^/\s]+\/([^@\s]+)(?:@\S+)?$/.exec(ep))) {
      target = { kind: 'gateway', number: m[1]!, gateway: '' };
      chanName = ep;
      dest = m[1]!;
      calleeNumber = m[1]!;
      legVars.set('originate_endpoint', 'sofia');
    } else if ((m = /^error\/(\S+)$/.exec(ep))) {
      return this.failEarly(opts, m[1]!);
    } else {
      return this.failEarly(opts, 'CHAN_NOT_IMPLEMENTED');
    }

    const uuid = vars.get('origination_uuid') || randomUUID();
    if (core.channels.has(uuid)) return this.failEarly(opts, 'DESTINATION_OUT_OF_ORDER');
    const cidNum = vars.get('origination_caller_id_number') ?? (opts.aLeg ? opts.aLeg.profile.cidNumber : '0000000000');
    const cidName = vars.get('origination_caller_id_name') ?? (opts.aLeg ? opts.aLeg.profile.cidName : undefined);
    const ch = new Channel(uuid, chanName, 'outbound', core.newProfile({
      cidName,
      cidNumber: cidNum,
      origCidNumber: cidNum,
      calleeName: 'Outbound Call',
      calleeNumber,
      destination: dest,
      source: 'src/switch_ivr_originate.c',
      context: 'default',
    }));
    ch.hitDialplan = false;
    ch.state = 'CS_NONE';
    if (opts.aLeg) ch.otherLeg = { type: 'originator', channel: opts.aLeg };
    const v = ch.vars;
    v.set('direction', 'outbound');
    v.set('is_outbound', 'true');
    v.set('uuid', uuid);
    v.set('call_uuid', uuid);
    v.set('session_id', String(core.sessionsSinceStartup + 1));
    v.set('sip_profile_name', 'internal');
    v.set('channel_name', chanName);
    for (const [k, val] of legVars) v.set(k, val);
    for (const [k, val] of vars) v.set(k, val);
    if (presence) v.set('presence_id', presence);
    v.set('originate_early_media', 'false');
    // B legs of the bridge app inherit the A leg's after-bridge behaviour
    const pab = opts.aLeg?.vars.get('park_after_bridge');
    if (pab) v.set('park_after_bridge', pab);
    if (opts.aLeg) {
      // a B leg belongs to its A leg's call from the start
      v.set('call_uuid', opts.aLeg.uuid);
      v.set('signal_bond', opts.aLeg.uuid);
    }
    ch.presenceId = undefined;
    core.register(ch);
    core.fire(ch, 'CHANNEL_OUTGOING', { vars: false });
    core.setState(ch, 'CS_INIT');
    ch.presenceId = presence;
    core.fire(ch, 'CHANNEL_CREATE');
    core.fire(ch, 'CHANNEL_ORIGINATE');
    core.setState(ch, 'CS_ROUTING');
    core.setState(ch, 'CS_CONSUME_MEDIA');
    const timeoutSec = Number.parseInt(vars.get('originate_timeout') ?? vars.get('call_timeout') ?? '60', 10) || 60;
    const ctl = new OutboundLeg(core, ch, target, opts, this.media, core.now(), timeoutSec);
    ch.owner = undefined;
    this.pending.set(ch, ctl);
    this.world.offer(ch, target, ctl);
    return [ctl];
  }

  private failEarly(opts: OriginateOptions, cause: string, strayDestroy = false): OutboundLeg[] {
    if (strayDestroy) {
      // the real switch fires CHANNEL_DESTROY for a session that never got a CHANNEL_CREATE
      const uuid = randomUUID();
      const ch = new Channel(uuid, 'N/A', 'outbound', this.core.newProfile({ cidNumber: '', destination: '', source: '', context: '' }));
      ch.state = 'CS_NONE';
      ch.hitDialplan = false;
      ch.vars.set('direction', 'outbound');
      ch.vars.set('is_outbound', 'true');
      ch.vars.set('uuid', uuid);
      ch.vars.set('call_uuid', uuid);
      ch.vars.set('session_id', String(this.core.sessionsSinceStartup + 1));
      // with its variables but without a caller profile (it never had one)
      this.core.fire(ch, 'CHANNEL_DESTROY', { caller: false });
      ch.state = 'CS_DESTROY';
      this.core.fire(ch, 'CHANNEL_STATE', { caller: false, vars: false });
    }
    opts.onResult({ ok: false, cause });
    return [];
  }
}

export type { FarEnd };
