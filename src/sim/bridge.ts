// Joining legs: uuid_bridge, the bridge application, hold (music to the partner), intercept, transfer.
import { randomUUID } from 'node:crypto';
import type { AppRun, Bridge, SwitchCore } from './core.js';
import type { Channel } from './channel.js';
import type { Originator, OutboundLeg } from './originate.js';
import { playMedia } from './apps.js';
import type { AppDeps } from './apps.js';

export class Bridger {
  constructor(
    private readonly core: SwitchCore,
    private readonly orig: Originator,
    private readonly deps: AppDeps,
  ) {
    core.hearingProviders.push((ch) => {
      const p = ch.partner;
      if (!p || !p.alive) return undefined;
      if (p.held) return undefined;
      return `party:${p.uuid}`;
    });
  }

  /** leave whatever the leg is doing (park, nested apps, an old bridge) before a new bridge/transfer */
  private detach(x: Channel, newPartner?: Channel): void {
    const core = this.core;
    const br = core.bridges.get(x);
    if (br) {
      const old = br.a === x ? br.b : br.a;
      if (old !== newPartner) {
        // the old partner is hung up; x stays (its UNBRIDGE fires if it was the A side)
        core.bridges.delete(br.a);
        core.bridges.delete(br.b);
        br.a.partner = undefined;
        br.b.partner = undefined;
        core.hangup(old, 'NORMAL_CLEARING');
        core.fire(br.a === x ? x : old, 'CHANNEL_UNBRIDGE', { pre: { 'Bridge-A-Unique-ID': br.a.uuid, 'Bridge-B-Unique-ID': br.b.uuid } });
      }
    }
    core.moved.add(x);
    core.stopAllApps(x, 'bridge');
    core.moved.delete(x);
  }

  /** uuid_bridge A B: both legs leave their apps, A carries the bridge events */
  uuidBridge(a: Channel, b: Channel): void {
    const core = this.core;
    if (!a.alive || !b.alive) return;
    // the partner shows up as Other-Leg-* (and bridge_uuid/signal_bond) as soon as the legs leave their apps;
    // uuid_bridge is a transfer: new Transfer-Source, B shows A's caller id, A gets B's callee
    a.otherLeg = { type: 'originatee', channel: b };
    b.otherLeg = { type: 'originator', channel: a };
    const epoch = Math.floor(core.now() / 1000);
    a.profile.transferSource = `${epoch}:${randomUUID()}:uuid_br:${b.uuid}`;
    b.profile.transferSource = `${epoch}:${randomUUID()}:uuid_br:${a.uuid}`;
    a.profile.calleeNumber = b.profile.calleeNumber ?? b.profile.origCidNumber ?? b.profile.cidNumber;
    a.profile.calleeName = undefined;
    if (b.direction === 'outbound') {
      b.profile.cidNumber = a.profile.cidNumber;
      b.profile.cidName = a.profile.cidName;
    }
    for (const [x, y] of [[a, b], [b, a]] as const) {
      x.setVar('bridge_uuid', y.uuid);
      x.setVar('signal_bond', y.uuid);
    }
    for (const x of [a, b]) {
      const wasBridged = core.bridges.has(x);
      this.detach(x, x === a ? b : a);
      // a leg coming out of another bridge skips CS_HIBERNATE
      if (!wasBridged) core.setState(x, 'CS_HIBERNATE');
      core.setState(x, 'CS_RESET');
      core.setState(x, 'CS_SOFT_EXECUTE');
    }
    if (!a.answered) core.answer(a);
    if (!b.answered) core.answer(b);
    for (const [x, y] of [[a, b], [b, a]] as const) {
      x.setVar('current_application', 'uuid_bridge');
      x.setVar('current_application_data', y.uuid);
      core.fire(x, 'CHANNEL_EXECUTE', { post: { Application: 'uuid_bridge', 'Application-Data': y.uuid } });
    }
    core.setState(b, 'CS_CONSUME_MEDIA');
    this.link(a, b, 'uuid_bridge');
    core.setState(b, 'CS_EXCHANGE_MEDIA');
  }

  /** make a and b partners and fire CHANNEL_BRIDGE on a */
  link(a: Channel, b: Channel, kind: Bridge['kind'], app?: AppRun): void {
    const core = this.core;
    const br: Bridge = { a, b, kind, app };
    core.bridges.set(a, br);
    core.bridges.set(b, br);
    a.partner = b;
    b.partner = a;
    a.otherLeg = { type: 'originatee', channel: b };
    b.otherLeg = { type: 'originator', channel: a };
    const now = core.now();
    a.profile.bridgedMs = now;
    b.profile.bridgedMs = now;
    for (const [x, y] of [[a, b], [b, a]] as const) {
      x.setVar('bridge_channel', y.name);
      x.setVar('bridge_uuid', y.uuid);
      x.setVar('signal_bond', y.uuid);
    }
    b.setVar('call_uuid', a.uuid);
    b.setVar('last_bridge_role', 'originatee');
    a.setVar('last_bridge_role', 'originator');
    core.fire(a, 'CHANNEL_BRIDGE', { pre: { 'Bridge-A-Unique-ID': a.uuid, 'Bridge-B-Unique-ID': b.uuid } });
    // the BRIDGE event still shows the previous last_bridge_to
    a.setVar('last_bridge_to', b.uuid);
    b.setVar('last_bridge_to', a.uuid);
    core.updateHearing(a);
    core.updateHearing(b);
  }

  /** the bridge application on A: originate B, bridge on answer, return when the bridge ends */
  bridgeApp(run: AppRun): void {
    const core = this.core;
    const a = run.ch;
    const wasAnswered = a.answered;
    // a bridge started from park (sendmsg) returns there afterwards: the switch sets park_after_bridge
    if (core.isParked(a)) a.setVar('park_after_bridge', 'true');
    if (wasAnswered) core.setCallState(a, 'RING_WAIT');
    let legs: OutboundLeg[] = [];
    let linked = false;
    const vars = new Map<string, string>();
    legs = this.orig.dial(run.arg, {
      vars,
      aLeg: a,
      onResult: (r) => {
        if (run.finished) {
          if (r.ok) core.hangup(r.ch, 'ORIGINATOR_CANCEL');
          return;
        }
        if (!a.alive) return;
        if (!r.ok) {
          a.setVar('originate_disposition', r.cause);
          a.setVar('DIALSTATUS', r.cause);
          if (a.alive && a.callState === 'RING_WAIT') core.setCallState(a, 'ACTIVE');
          run.finish('_none_');
          return;
        }
        a.otherLeg = { type: 'originatee', channel: r.ch };
        if (!a.answered) core.answer(a);
        if (a.callState === 'RING_WAIT') core.setCallState(a, 'ACTIVE');
        linked = true;
        this.link(a, r.ch, 'app', run);
        core.setState(r.ch, 'CS_EXCHANGE_MEDIA');
      },
    });
    run.onStop((reason) => {
      if (!linked) {
        run.finish('_none_');
        for (const l of legs) l.cancel('ORIGINATOR_CANCEL');
        return;
      }
      const br = core.bridges.get(a);
      if (br && reason !== 'hangup') {
        // taken away from the bridge (intercept, transfer): the partner is hung up
        core.endBridge(br, a);
      }
      run.finish('_none_');
    });
  }

  /** uuid_hold X: X is held, the hold music goes to X's partner */
  hold(x: Channel, on: boolean): void {
    const core = this.core;
    if (!x.alive) return;
    const partner = x.partner;
    if (on) {
      if (x.held) return;
      x.held = true;
      x.profile.lastHoldMs = core.now();
      core.setCallState(x, 'HELD');
      core.fire(x, 'CHANNEL_HOLD');
      if (partner) {
        const moh = core.globals.get('hold_music') ?? 'local_stream://moh';
        core.later(200, () => {
          if (!x.held || !partner.alive) return;
          this.holdMusic.set(partner, true);
          core.execute(partner, 'playback', moh);
        });
      }
      core.updateHearing(x);
    } else {
      if (!x.held) return;
      x.held = false;
      core.setCallState(x, 'UNHELD');
      if (partner && this.holdMusic.get(partner)) {
        this.holdMusic.delete(partner);
        const top = core.topApp(partner);
        if (top && top.name === 'playback') top.stop('break');
      }
      // a leg in the bridge's media loop (B side) reports UNHOLD before going ACTIVE one frame later;
      // the A side (CS_SOFT_EXECUTE) goes ACTIVE at once
      if (x.state === 'CS_EXCHANGE_MEDIA') {
        core.fire(x, 'CHANNEL_UNHOLD');
        core.later(20, () => {
          if (x.alive && x.callState === 'UNHELD') core.setCallState(x, 'ACTIVE');
        });
      } else {
        core.setCallState(x, 'ACTIVE');
        core.fire(x, 'CHANNEL_UNHOLD');
      }
      core.updateHearing(x);
    }
  }
  private readonly holdMusic = new WeakMap<Channel, boolean>();

  /** what the playback of media on a bridged leg looks like (uuid_broadcast) */
  broadcast(x: Channel, src: string): void {
    const core = this.core;
    if (!x.alive) return;
    core.breakNested(x);
    core.execute(x, 'playback', src);
  }
}

export { playMedia };
