// intercept [-bleg] <uuid>: take over a ringing call (call pickup) as the switch does it.
import type { AppRun, SwitchCore } from './core.js';
import type { Channel } from './channel.js';
import type { Bridger } from './bridge.js';
import type { Originator } from './originate.js';

export class Intercept {
  constructor(
    private readonly core: SwitchCore,
    private readonly bridger: Bridger,
    private readonly orig: Originator,
  ) {}

  app(run: AppRun): void {
    const core = this.core;
    const me = run.ch;
    const words = run.arg.trim().split(/\s+/).filter(Boolean);
    const bleg = words[0] === '-bleg';
    if (bleg) words.shift();
    let target = words[0] ? core.channels.get(words[0]) : undefined;
    if (target && bleg) target = this.partnerOf(target);
    if (!target || !target.alive || target === me) {
      run.finish('_none_');
      return;
    }
    const t = target;
    if (t.direction === 'outbound' && !t.answered) {
      // taking over a leg that is still ringing: whoever waited for it loses it (PICKED_OFF / the originate
      // gets ORIGINATOR_CANCEL); the bridge to an unanswered leg fails: the leg ends DESTINATION_OUT_OF_ORDER
      // and the interceptor ORIGINATOR_CANCEL
      const ctl = this.orig.pending.get(t);
      ctl?.takeOver('ORIGINATOR_CANCEL');
      const aLeg = t.otherLeg?.channel;
      const fromBridgeApp = !!aLeg && aLeg !== me;
      me.otherLeg = { type: 'originatee', channel: t };
      t.otherLeg = { type: 'originator', channel: me };
      for (const [x, y] of [[me, t], [t, me]] as const) {
        x.setVar('bridge_uuid', y.uuid);
        x.setVar('signal_bond', y.uuid);
      }
      core.setState(t, 'CS_PARK');
      if (fromBridgeApp) {
        core.fire(t, 'CHANNEL_PARK');
        core.fire(t, 'CHANNEL_UNPARK');
      }
      core.setState(t, 'CS_HIBERNATE');
      core.setState(t, 'CS_RESET');
      core.setState(t, 'CS_SOFT_EXECUTE');
      if (fromBridgeApp && aLeg.alive) core.hangup(aLeg, 'PICKED_OFF');
      core.moved.add(me);
      run.finish('_none_');
      core.moved.delete(me);
      core.setState(me, 'CS_HIBERNATE');
      core.setState(me, 'CS_RESET');
      core.setState(me, 'CS_SOFT_EXECUTE');
      core.later(20, () => {
        ctl?.reportWithheld();
        if (t.alive) core.hangup(t, 'DESTINATION_OUT_OF_ORDER');
        if (me.alive) core.hangup(me, 'ORIGINATOR_CANCEL');
      });
      return;
    }
    // the target's partner (or the leg it is ringing) is picked off, then we are bridged to the target
    me.otherLeg = { type: 'originatee', channel: t };
    t.otherLeg = { type: 'originator', channel: me };
    for (const [x, y] of [[me, t], [t, me]] as const) {
      x.setVar('bridge_uuid', y.uuid);
      x.setVar('signal_bond', y.uuid);
    }
    const pending = this.pendingLegOf(t);
    const partner = t.partner;
    if (pending && pending.alive) core.hangup(pending, 'PICKED_OFF');
    else if (partner && partner.alive) {
      const br = core.bridges.get(t);
      if (br) {
        core.bridges.delete(br.a);
        core.bridges.delete(br.b);
        t.partner = undefined;
        partner.partner = undefined;
      }
      core.hangup(partner, 'PICKED_OFF');
    }
    core.moved.add(me);
    run.finish('_none_');
    core.moved.delete(me);
    this.bridger.uuidBridge(me, t);
  }

  /** -bleg: the other side of the target (its bridge partner, the A-leg of a ringing B-leg) */
  private partnerOf(ch: Channel): Channel | undefined {
    if (ch.partner) return ch.partner;
    if (ch.direction === 'outbound' && ch.otherLeg) return ch.otherLeg.channel;
    return undefined;
  }

  /** a B-leg the target is ringing through the bridge app */
  private pendingLegOf(ch: Channel): Channel | undefined {
    for (const c of this.core.channels.values()) {
      if (c.alive && c.direction === 'outbound' && !c.answered && c.otherLeg?.channel === ch) return c;
    }
    return undefined;
  }
}
