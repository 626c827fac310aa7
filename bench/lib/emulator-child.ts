// The switch side of `npm run bench`: the FreeSWITCH emulator and its simulated world (citizens, agent phones) in a
// child process, so their CPU is not charged to the CTI. Driven over IPC by bench/run.ts (see ChildRequest).
// Also the neutral checks that need the switch's view: N (menu key → agent leg CHANNEL_CREATE by the switch's
// Event-Date-Timestamp) and double offers, from the emulator's own command log.
import { startEmulator, type RunningEmulator } from '../../src/sim/index.js';
import type { SimCaller } from '../../src/sim/world.js';
import type { TimerHandle } from '../../src/sim/clock.js';
import type { ChildRequest, ChildReply, ScenarioSpec, SwitchScenarioResult, SwitchStats } from './protocol.js';

let sim: RunningEmulator;
const send = (m: ChildReply): void => void process.send!(m);

interface CallerTrack {
  caller: SimCaller;
  scripted: boolean;
  bridged: boolean;
  welcomed: boolean;
  timers: TimerHandle[];
}

/** Exponential inter-arrival gap of a Poisson process with `ratePerS` arrivals per second (ms). */
const poissonGapMs = (ratePerS: number): number => (-Math.log(1 - Math.random()) / ratePerS) * 1000;
const between = (a: number, b: number): number => a + Math.random() * (b - a);

async function runScenario(spec: ScenarioSpec): Promise<SwitchScenarioResult> {
  const core = sim.emulator.core;
  // the emulator keeps only its last 5,000-10,000 commands: collect the originates as they arrive instead
  const originates: { at: number; text: string }[] = [];
  const log = sim.emulator.commands;
  const push = log.push;
  log.push = (...items) => {
    for (const c of items) {
      const text = `${c.line} ${c.body ?? ''}`;
      if (text.includes('originate ')) originates.push({ at: c.at, text });
    }
    return push.apply(log, items);
  };
  const tracks: CallerTrack[] = [];
  const dtmfAt = new Map<string, number>(); // caller uuid → first DTMF (µs, switch clock)
  const createdAt = new Map<string, number>(); // leg uuid → CHANNEL_CREATE (µs)
  const hangupAt = new Map<string, number>(); // leg uuid → CHANNEL_HANGUP (µs)
  let events = 0;
  let peakChannels = 0;
  let peakCallers = 0;
  let live = 0;
  const unsubscribe = core.subscribe((e) => {
    events++;
    const uuid = e.headers['Unique-ID'];
    if (!uuid) return;
    const ts = Number(e.headers['Event-Date-Timestamp']);
    if (e.name === 'DTMF' && !dtmfAt.has(uuid)) dtmfAt.set(uuid, ts);
    else if (e.name === 'CHANNEL_CREATE') createdAt.set(uuid, ts);
    else if (e.name === 'CHANNEL_HANGUP') hangupAt.set(uuid, ts);
  });
  const sampler = setInterval(() => {
    peakChannels = Math.max(peakChannels, core.channels.size);
    peakCallers = Math.max(peakCallers, live);
  }, 100);

  const scriptHangup = (t: CallerTrack): void => {
    if (t.caller.ended) return;
    t.scripted = true;
    t.caller.hangup();
  };
  const dialOne = (n: number): void => {
    const caller = sim.world.dial({ from: `${spec.callerPrefix}${String(n).padStart(6, '0')}` });
    const t: CallerTrack = { caller, scripted: false, bridged: false, welcomed: false, timers: [] };
    tracks.push(t);
    live++;
    void caller.waitFor((e) => e.name === 'PLAYBACK_START' && (e.headers['Playback-File-Path'] ?? '').includes('welcome')).then(() => {
      t.welcomed = true;
    });
    // the menu key once the menu prompt starts (the DTMF reaches the switch ~280 ms later)
    void caller.waitFor((e) => e.name === 'PLAYBACK_START' && (e.headers['Playback-File-Path'] ?? '').includes('main-menu')).then(() => caller.press(spec.menuKey));
    void caller.waitFor('CHANNEL_BRIDGE').then(() => {
      t.bridged = true;
      t.timers.push(core.later(between(spec.talkMinMs, spec.talkMaxMs), () => scriptHangup(t)));
    });
    void caller.waitFor('CHANNEL_HANGUP_COMPLETE').then(() => {
      live--;
      for (const x of t.timers) core.clock.clearTimeout(x);
    });
    // a citizen gives up after maxWaitMs without an agent (scripted abandon, not a loss)
    t.timers.push(core.later(spec.maxWaitMs, () => !t.bridged && scriptHangup(t)));
  };

  // arrivals: Poisson at spec.rate for spec.durationMs (rate × burstFactor during the burst window)
  const t0 = performance.now();
  let n = 0;
  let nextAt = 0;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const elapsed = performance.now() - t0;
      if (elapsed >= spec.durationMs || (spec.maxCalls !== undefined && n >= spec.maxCalls)) {
        clearInterval(tick);
        resolve();
        return;
      }
      while (nextAt <= elapsed && nextAt < spec.durationMs && (spec.maxCalls === undefined || n < spec.maxCalls)) {
        dialOne(n++);
        nextAt += poissonGapMs(spec.rate);
      }
    }, 5);
  });
  const arrivalS = (performance.now() - t0) / 1000;
  // drain: every call ends by script (talk or abandon) within maxWait + talkMax; leftovers are forced and counted
  const drainUntil = performance.now() + spec.maxWaitMs + spec.talkMaxMs + 3000;
  while (live > 0 && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 100));
  const stuck = tracks.filter((t) => !t.caller.ended);
  for (const t of stuck) scriptHangup(t);
  if (spec.hupallAfter) await sim.emulator.command('hupall NORMAL_CLEARING');
  await new Promise((r) => setTimeout(r, 1000));
  clearInterval(sampler);
  unsubscribe();
  log.push = push;

  // double offers from the command log: an originate for an agent (or a call) while an earlier leg is still up
  const offers: { at: number; agent: string; call: string; leg: string }[] = [];
  for (const c of originates) {
    const text = c.text;
    const call = /hotline_queue_call=([0-9a-f-]{36})/.exec(text)?.[1];
    for (const m of text.matchAll(/\[([^\]]*)\]user\/(\w+)/g)) {
      const leg = /origination_uuid=([0-9a-f-]{36})/.exec(m[1]!)?.[1];
      if (call && leg) offers.push({ at: c.at * 1000, agent: m[2]!, call, leg });
    }
  }
  const endOf = (leg: string, at: number): number => hangupAt.get(leg) ?? (createdAt.has(leg) ? Infinity : at);
  let doubleAgent = 0;
  let doubleCall = 0;
  const lastByAgent = new Map<string, { leg: string; at: number }>();
  const lastByCall = new Map<string, { leg: string; at: number }>();
  for (const o of offers) {
    const a = lastByAgent.get(o.agent);
    if (a && endOf(a.leg, a.at) > o.at) doubleAgent++;
    const c = lastByCall.get(o.call);
    if (c && endOf(c.leg, c.at) > o.at) doubleCall++;
    lastByAgent.set(o.agent, o);
    lastByCall.set(o.call, o);
  }
  // N: the caller's menu key (queue entry) → the first agent leg's CHANNEL_CREATE, switch clock
  const nMs: number[] = [];
  const firstOfferLeg = new Map<string, string>();
  for (const o of offers) if (!firstOfferLeg.has(o.call)) firstOfferLeg.set(o.call, o.leg);
  for (const [call, leg] of firstOfferLeg) {
    const d = dtmfAt.get(call);
    const c = createdAt.get(leg);
    if (d !== undefined && c !== undefined) nMs.push((c - d) / 1000);
  }

  const lost = tracks.filter((t) => t.caller.ended && !t.scripted && !stuck.includes(t));
  return {
    dialed: n,
    arrivalS,
    callersEnded: tracks.filter((t) => t.caller.ended).length,
    bridged: tracks.filter((t) => t.bridged).length,
    abandonedByScript: tracks.filter((t) => t.scripted && !t.bridged).length,
    lost: lost.length,
    lostCauses: Object.fromEntries(
      [...new Set(lost.map((t) => t.caller.endCause ?? '?'))].map((c) => [c, lost.filter((t) => t.caller.endCause === c).length]),
    ),
    neverWelcomed: tracks.filter((t) => !t.welcomed).length,
    stuckAtEnd: stuck.length,
    offers: offers.length,
    doubleOffersAgent: doubleAgent,
    doubleOffersCall: doubleCall,
    nMs,
    switchEvents: events,
    peakChannels,
    peakCallers,
  };
}

function stats(): SwitchStats {
  const u = process.cpuUsage();
  return { channels: sim.emulator.core.channels.size, cpuMs: (u.user + u.system) / 1000, rssMb: process.memoryUsage().rss / 1e6 };
}

process.on('message', (m: ChildRequest) => {
  void (async () => {
    try {
      if (m.cmd === 'start') {
        sim = await startEmulator({ port: 0, heartbeatSec: 20, mediaDurations: m.mediaDurations });
        send({ kind: 'started', port: sim.port, password: sim.password });
      } else if (m.cmd === 'agents') {
        for (const ext of m.extensions) {
          const phone = sim.world.phone(ext);
          if (!phone.registered) phone.register();
          phone.set({ kind: 'answer', afterMs: m.answerAfterMs });
        }
        await new Promise((r) => setTimeout(r, 200));
        send({ kind: 'agentsReady' });
      } else if (m.cmd === 'run') {
        send({ kind: 'scenarioDone', result: await runScenario(m.spec) });
      } else if (m.cmd === 'stats') {
        send({ kind: 'stats', stats: stats() });
      } else if (m.cmd === 'stop') {
        await sim?.close();
        process.exit(0);
      }
    } catch (err) {
      send({ kind: 'error', message: (err as Error).stack ?? String(err) });
    }
  })();
});
// the parent died: do not linger
process.on('disconnect', () => process.exit(0));
