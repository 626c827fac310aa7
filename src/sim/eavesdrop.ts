// eavesdrop <uuid>: listen to a call; with eavesdrop_enable_dtmf the supervisor switches modes with keys
// (switch_ivr_eavesdrop_session): 1 = talk to T's partner, 2 = talk to T (whisper to T's phone), 3 = both,
// 0 = listen only, * = stop. The eavesdrop ends when its target goes.
import type { AppRun, SwitchCore } from './core.js';
import type { Channel } from './channel.js';

export type EavesdropMode = 'listen' | 'whisper-partner' | 'whisper-target' | 'barge';

interface Session {
  run: AppRun;
  spy: Channel;
  target: Channel;
  mode: EavesdropMode;
}

export class Eavesdrop {
  private readonly bySpy = new WeakMap<Channel, Session>();
  private readonly byTarget = new Map<Channel, Set<Session>>();

  constructor(private readonly core: SwitchCore) {
    core.onHangupHooks.add((ch) => {
      const set = this.byTarget.get(ch);
      if (!set) return;
      this.byTarget.delete(ch);
      // the spy's app ends after the target's bridge is torn down
      for (const s of set) core.later(1, () => s.run.stop('break'));
    });
    // what people hear: the spy hears the call; whispered parties also hear the spy
    core.hearingProviders.unshift((ch) => {
      const s = this.bySpy.get(ch);
      if (s) return `eavesdrop:${s.target.uuid}`;
      return undefined;
    });
    core.hearingOverlays.push((ch) => this.whisperersTo(ch).map((spy) => `whisper:${spy.uuid}`));
  }

  sessionOf(ch: Channel): { target: string; mode: string } | undefined {
    const s = this.bySpy.get(ch);
    return s ? { target: s.target.uuid, mode: s.mode } : undefined;
  }
  /** who whispers into this channel (heard by its party), if anyone */
  whisperersTo(ch: Channel): Channel[] {
    const out: Channel[] = [];
    for (const [t, set] of this.byTarget) {
      for (const s of set) {
        if ((s.mode === 'whisper-target' || s.mode === 'barge') && t === ch) out.push(s.spy);
        if ((s.mode === 'whisper-partner' || s.mode === 'barge') && t.partner === ch) out.push(s.spy);
      }
    }
    return out;
  }

  app(run: AppRun): void {
    const core = this.core;
    const spy = run.ch;
    const target = core.channels.get(run.arg.trim());
    if (!target || !target.alive) {
      run.finish('_none_');
      return;
    }
    if (!spy.answered) core.answer(spy);
    const s: Session = { run, spy, target, mode: 'listen' };
    this.bySpy.set(spy, s);
    let set = this.byTarget.get(target);
    if (!set) this.byTarget.set(target, (set = new Set()));
    set.add(s);
    const dtmfOn = (spy.getVar('eavesdrop_enable_dtmf') ?? 'true') !== 'false';
    run.dtmf = (d) => {
      if (!dtmfOn) return;
      const modes: Record<string, EavesdropMode> = { '1': 'whisper-partner', '2': 'whisper-target', '3': 'barge', '0': 'listen' };
      if (d === '*') {
        run.stop('break');
        return;
      }
      const m = modes[d];
      if (m) {
        s.mode = m;
        core.updateHearing(target);
        if (target.partner) core.updateHearing(target.partner);
      }
    };
    const refresh = (): void => {
      core.updateHearing(target);
      if (target.partner) core.updateHearing(target.partner);
    };
    run.onStop(() => {
      this.bySpy.delete(spy);
      set!.delete(s);
      if (!set!.size) this.byTarget.delete(target);
      run.finish('_none_');
      refresh();
    });
    core.updateHearing(spy);
  }
}
