// Dialplan applications (mod_dptools and friends) as the CTI uses them.
import type { AppRun, SwitchCore } from './core.js';
import type { MediaLibrary } from './media.js';
import { writeWav } from './media.js';
import type { Channel } from './channel.js';
import { str2cause } from './causes.js';
import type { Scheduler } from './scheduler.js';
import { atol } from './scheduler.js';

export interface AppDeps {
  media: MediaLibrary;
  /** the caller/far end's audio energy on a leg: is the party talking right now? and its tone (Hz) */
  talking(ch: Channel): boolean;
  talkTone(ch: Channel): number;
  /** start the bridge application's B-leg; installed by bridge.ts */
  bridgeApp?(run: AppRun): void;
  conferenceApp?(run: AppRun): void;
  eavesdropApp?(run: AppRun): void;
  interceptApp?(run: AppRun): void;
  /** switch_ivr_session_transfer (scheduled transfers); dialplan/context default to the caller profile's */
  transfer?(ch: Channel, dest: string, dialplan?: string, context?: string): void;
  /** switch_ivr_broadcast of a file to a leg (sched_broadcast) */
  broadcast?(ch: Channel, path: string, legs: 'aleg' | 'bleg' | 'both'): void;
  /** the core scheduler (sched_* apps) */
  scheduler?: Scheduler;
}

/** switch_separate_string on blanks: at most `max` fields, the last one keeps the rest */
export function separate(s: string, max: number): string[] {
  const out: string[] = [];
  let rest = s.trim();
  while (rest && out.length < max - 1) {
    const m = /^(\S+)\s*/.exec(rest)!;
    out.push(m[1]!);
    rest = rest.slice(m[0].length);
  }
  if (rest) out.push(rest);
  return out;
}

/** play one media source as part of an app; calls back with how it ended */
export function playMedia(
  run: AppRun,
  deps: AppDeps,
  src: string,
  onEnd: (status: 'done' | 'break' | 'notfound', playedMs: number) => void,
  opts: { terminators?: string; onDigit?: (d: string) => boolean } = {},
): { stop(): void } {
  const { core, ch } = run;
  const info = deps.media.info(src);
  if (info.kind === 'missing') {
    onEnd('notfound', 0);
    return { stop() {} };
  }
  // switch_ivr_play_file needs media: an unanswered inbound leg is pre-answered (183)
  if (ch.answerState === 'ringing' && ch.direction === 'inbound') core.preAnswer(ch);
  const post: Record<string, string> = {};
  if (info.type) post['Playback-File-Type'] = info.type;
  post['Playback-File-Path'] = src;
  core.fire(ch, 'PLAYBACK_START', { post });
  const started = core.now();
  let ended = false;
  run.setMedia(src);
  const end = (status: 'done' | 'break'): void => {
    if (ended) return;
    ended = true;
    core.clock.clearTimeout(timer);
    const ms = Math.max(0, Math.round(Math.min(core.now() - started, info.ms)));
    const samples = Math.round(ms * 8);
    ch.setVar('playback_last_offset_pos', String(samples));
    ch.setVar('playback_seconds', String(Math.floor(ms / 1000)));
    ch.setVar('playback_ms', String(ms));
    ch.setVar('playback_samples', String(samples));
    const p2: Record<string, string> = { ...post, 'Playback-Status': status };
    core.fire(ch, 'PLAYBACK_STOP', { post: p2 });
    run.setMedia(undefined);
    onEnd(status, ms);
  };
  const timer = Number.isFinite(info.ms) ? run.later(info.ms, () => end('done')) : undefined;
  return { stop: () => end('break') };
}

function terminatorsOf(ch: Channel): string {
  const t = ch.getVar('playback_terminators');
  if (t === undefined) return '*';
  if (t === 'none') return '';
  return t;
}

export function installApps(core: SwitchCore, deps: AppDeps): void {
  const A = core.appTable;

  A.park = (run) => {
    const { ch } = run;
    if (ch.state !== 'CS_EXECUTE' && ch.state !== 'CS_PARK') core.setState(ch, 'CS_EXECUTE');
    core.fire(ch, 'CHANNEL_PARK');
    // park_timeout=secs[:CAUSE] (switch_ivr_park): hang up with CAUSE (str2cause: default NORMAL_CLEARING) at
    // epoch second now+secs; the variable is consumed, so a later park of the same call has no timeout
    const pt = ch.getVar('park_timeout');
    if (pt !== undefined) {
      const colon = pt.indexOf(':');
      const cause = colon < 0 ? 'NORMAL_CLEARING' : str2cause(pt.slice(colon + 1));
      const secs = atol(pt);
      ch.vars.delete('park_timeout');
      ch.vars.delete('park_after_bridge');
      if (secs >= 0) {
        const expires = (Math.floor(core.now() / 1000) + secs) * 1000;
        run.later(Math.max(0, expires - core.now()), () => core.hangup(ch, cause));
      }
    }
    run.onStop(() => {
      core.fire(ch, 'CHANNEL_UNPARK');
      run.finish(ch.vars.get('current_application_response') ?? '_none_');
    });
  };

  A.answer = (run) => {
    core.answer(run.ch);
    run.finish('_none_');
  };
  A.pre_answer = (run) => {
    core.preAnswer(run.ch);
    run.finish('_none_');
  };
  A.ring_ready = (run) => {
    run.finish('_none_');
  };
  A.hangup = (run) => {
    const cause = run.arg.trim() || 'NORMAL_CLEARING';
    run.finish('_none_');
    core.hangup(run.ch, cause);
  };
  A.respond = (run) => {
    // "403 Forbidden" on an unanswered channel rejects it; 180/183 only signal progress
    const code = Number.parseInt(run.arg, 10);
    if (code >= 300 || !Number.isFinite(code)) {
      core.hangup(run.ch, code === 486 ? 'USER_BUSY' : code === 480 ? 'NO_USER_RESPONSE' : code === 404 ? 'UNALLOCATED_NUMBER' : 'CALL_REJECTED');
      run.ch.setVar('sip_term_status', String(code));
      run.finish('_none_');
      return;
    }
    if (code === 183) core.preAnswer(run.ch);
    run.finish('_none_');
  };
  A.set = (run) => {
    const [k, ...rest] = run.arg.split('=');
    if (k) run.ch.setVar(k.trim(), rest.length ? rest.join('=') : undefined);
    run.finish('_none_');
  };
  A.export = (run) => {
    const [k, ...rest] = run.arg.split('=');
    if (k) {
      run.ch.setVar(k.trim(), rest.join('='));
      const ex = run.ch.vars.get('export_vars');
      run.ch.setVar('export_vars', ex ? `${ex},${k.trim()}` : k.trim());
    }
    run.finish('_none_');
  };
  A.sleep = (run) => {
    const ms = Number.parseInt(run.arg, 10) || 0;
    run.later(ms, () => run.finish('_none_'));
    run.onStop(() => run.finish('_none_'));
  };

  A.playback = (run) => {
    const { ch } = run;
    const terms = terminatorsOf(ch);
    let p: { stop(): void } | undefined;
    run.dtmf = (d) => {
      if (terms.includes(d)) {
        ch.setVar('playback_terminator_used', d);
        p?.stop();
      }
    };
    p = playMedia(run, deps, run.arg.trim(), (status) => {
      run.finish(status === 'notfound' ? 'FILE NOT FOUND' : 'FILE PLAYED');
    });
    run.onStop(() => p?.stop());
  };

  A.play_and_get_digits = (run) => pagd(run, deps, false);
  A.read = (run) => pagd(run, deps, true);

  A.record = (run) => recordApp(run, deps);

  A.bridge = (run) => {
    if (deps.bridgeApp) deps.bridgeApp(run);
    else run.finish('_none_');
  };
  A.conference = (run) => (deps.conferenceApp ? deps.conferenceApp(run) : run.finish('_none_'));
  A.eavesdrop = (run) => (deps.eavesdropApp ? deps.eavesdropApp(run) : run.finish('_none_'));
  A.intercept = (run) => (deps.interceptApp ? deps.interceptApp(run) : run.finish('_none_'));
  installSchedApps(core, deps);
  A.info = (run) => run.finish('_none_');
  A.log = (run) => run.finish('_none_');
  A.send_dtmf = (run) => run.finish('_none_');
}

/**
 * sched_transfer / sched_hangup / sched_broadcast / sched_cancel (mod_dptools.c). The tasks' group is the channel
 * uuid, so `sched_del <uuid>` removes them; each task only acts if the channel still exists when it runs.
 */
function installSchedApps(core: SwitchCore, deps: AppDeps): void {
  const A = core.appTable;
  const sched = (): Scheduler | undefined => deps.scheduler;
  const tasks = schedTasks(core, deps);
  /** [+]<time>: +N = N s from now (epoch seconds), else an absolute epoch second */
  const when = (t: string, s: Scheduler): number => (t.startsWith('+') ? s.nowSec() + atol(t.slice(1)) : atol(t));

  // sched_transfer [+]<time> <extension> [<dialplan>] [<context>]; "Invalid Args" (logged only) under 2 fields
  A.sched_transfer = (run) => {
    const s = sched();
    const argv = separate(run.arg, 4);
    if (s && argv.length >= 2) {
      const uuid = run.ch.uuid;
      const [, ext, dp, ctx] = argv;
      const id = tasks.transfer(s, when(argv[0]!, s), uuid, ext, dp, ctx);
      run.ch.setVar('last_sched_id', String(id));
    }
    run.finish('_none_');
  };

  // sched_hangup [+]<time> [<cause>] [bleg]; cause default ALLOTTED_TIMEOUT; sec = atol(time + 1) == 0 hangs up now
  A.sched_hangup = (run) => {
    const s = sched();
    const argv = separate(run.arg, 5);
    if (!s || argv.length < 1) {
      run.finish('_none_');
      return;
    }
    const cause = argv[1] !== undefined ? str2cause(argv[1]) : 'ALLOTTED_TIMEOUT';
    const bleg = (argv[2] ?? '').toLowerCase() === 'bleg';
    const sec = atol(argv[0]!.slice(1));
    if (sec !== 0) tasks.hangup(s, when(argv[0]!, s), run.ch.uuid, cause, bleg);
    run.finish('_none_');
    if (sec === 0) core.hangup(run.ch, cause);
  };

  // sched_broadcast [[+]<time>|@time] <path> [aleg|bleg|both] (default aleg)
  A.sched_broadcast = (run) => {
    const s = sched();
    const argv = separate(run.arg, 6);
    if (s && argv.length >= 2) {
      const t = argv[0]!;
      const at = t.startsWith('@') ? atol(t.slice(1)) : when(t, s);
      const legs = argv[2] === 'both' || argv[2] === 'bleg' ? argv[2] : 'aleg';
      const id = tasks.broadcast(s, at, run.ch.uuid, argv[1]!, legs);
      run.ch.setVar('last_sched_id', String(id));
    }
    run.finish('_none_');
  };

  // sched_cancel [<task id>|<group>] (default group: this channel's uuid)
  A.sched_cancel = (run) => {
    const s = sched();
    const group = run.arg.trim() || run.ch.uuid;
    if (s) {
      if (/^\d+$/.test(group)) {
        const id = Number.parseInt(group, 10);
        if (id > 0) s.delId(id);
      } else s.delGroup(group);
    }
    run.finish('_none_');
  };
}

export interface SchedTasks {
  transfer(s: Scheduler, at: number, uuid: string, ext?: string, dp?: string, ctx?: string): number;
  hangup(s: Scheduler, at: number, uuid: string, cause: string, bleg: boolean): number;
  broadcast(s: Scheduler, at: number, uuid: string, path: string, legs: 'aleg' | 'bleg' | 'both'): number;
}

/** the tasks switch_ivr_schedule_transfer/hangup/broadcast add (switch_ivr_async.c): group = uuid, and the
 * callback looks the session up when it runs, doing nothing if it is gone */
export function schedTasks(core: SwitchCore, deps: AppDeps): SchedTasks {
  const alive = (uuid: string): Channel | undefined => {
    const c = core.channels.get(uuid);
    return c && c.alive ? c : undefined;
  };
  return {
    transfer: (s, at, uuid, ext, dp, ctx) =>
      s.add(at, 'switch_ivr_schedule_transfer', uuid, () => {
        const ch = alive(uuid);
        // switch_ivr_session_transfer: an empty extension is "service"
        if (ch) deps.transfer?.(ch, ext || 'service', dp, ctx);
      }),
    hangup: (s, at, uuid, cause, bleg) =>
      s.add(at, 'switch_ivr_schedule_hangup', uuid, () => {
        const ch = alive(uuid);
        if (!ch) return;
        if (!bleg) core.hangup(ch, cause);
        else if (ch.partner?.alive) core.hangup(ch.partner, cause);
      }),
    broadcast: (s, at, uuid, path, legs) =>
      s.add(at, 'switch_ivr_schedule_broadcast', uuid, () => {
        const ch = alive(uuid);
        if (ch) deps.broadcast?.(ch, path, legs);
      }),
  };
}

/** play_and_get_digits min max tries timeout terminators file invalid_file var regexp [digit_timeout]; read min max file var timeout terminators */
function pagd(run: AppRun, deps: AppDeps, isRead: boolean): void {
  const { core, ch } = run;
  const a = run.arg.trim().split(/\s+/);
  let min: number, max: number, tries: number, timeout: number, terms: string, file: string, invalid: string, varName: string, regex: RegExp | undefined, digitTimeout: number;
  if (isRead) {
    // read <min> <max> <sound file> <variable name> <timeout> <terminators>
    min = Number(a[0] ?? 1); max = Number(a[1] ?? 1); file = a[2] ?? ''; varName = a[3] ?? 'read_result_digits';
    timeout = Number(a[4] ?? 5000); terms = a[5] ?? '#'; tries = 1; invalid = ''; regex = undefined; digitTimeout = timeout;
  } else {
    min = Number(a[0] ?? 1); max = Number(a[1] ?? 1); tries = Number(a[2] ?? 1); timeout = Number(a[3] ?? 5000);
    terms = a[4] ?? '#'; file = a[5] ?? ''; invalid = a[6] ?? ''; varName = a[7] ?? 'pagd_input';
    try { regex = a[8] ? new RegExp(`^(?:${a[8]})$`) : undefined; } catch { regex = undefined; }
    digitTimeout = Number(a[9] ?? timeout);
  }
  if (terms === 'none') terms = '';
  let digits = '';
  let attempt = 0;
  let phase: 'prompt' | 'wait' | 'invalid' | 'done' = 'prompt';
  let player: { stop(): void } | undefined;
  let waitTimer: ReturnType<typeof run.later> | undefined;

  const finishWith = (): void => {
    phase = 'done';
    run.finish('_none_');
  };
  const evaluate = (): void => {
    core.clock.clearTimeout(waitTimer);
    const valid = digits.length >= min && (!regex || regex.test(digits));
    if (valid && digits.length) {
      ch.setVar('read_result', 'success');
      ch.setVar(varName, digits);
      finishWith();
      return;
    }
    if (isRead) {
      ch.setVar('read_result', digits.length ? 'success' : 'timeout');
      if (digits.length) ch.setVar(varName, digits);
      finishWith();
      return;
    }
    if (digits.length) {
      ch.setVar('read_result', 'success');
      ch.setVar(`${varName}_invalid`, digits);
    } else ch.setVar('read_result', 'failure');
    digits = '';
    if (invalid) {
      phase = 'invalid';
      player = playMedia(run, deps, invalid, () => next());
    } else next();
  };
  const next = (): void => {
    attempt++;
    if (attempt >= tries) {
      ch.setVar('read_result', 'failure');
      finishWith();
      return;
    }
    startTry();
  };
  const wait = (ms: number): void => {
    phase = 'wait';
    core.clock.clearTimeout(waitTimer);
    waitTimer = run.later(ms, evaluate);
  };
  const startTry = (): void => {
    ch.vars.delete('read_result');
    digits = '';
    phase = 'prompt';
    if (!file) {
      wait(timeout);
      return;
    }
    player = playMedia(run, deps, file, (status) => {
      if (phase !== 'prompt') return;
      if (status === 'break' && digits.length) {
        if (digits.length >= max) evaluate();
        else wait(digitTimeout);
        return;
      }
      wait(timeout);
    });
  };
  run.dtmf = (d) => {
    if (phase === 'done' || phase === 'invalid') return;
    if (terms.includes(d)) {
      ch.setVar('read_terminator_used', d);
      if (phase === 'prompt') {
        phase = 'wait';
        player?.stop();
      }
      evaluate();
      return;
    }
    digits += d;
    if (phase === 'prompt') {
      phase = 'wait';
      player?.stop();
    }
    if (digits.length >= max) evaluate();
    else wait(digitTimeout);
  };
  run.onStop(() => {
    const wasPlaying = phase === 'prompt' || phase === 'invalid';
    phase = 'done';
    if (wasPlaying) player?.stop();
    run.finish('_none_');
  });
  startTry();
}

/** record <path> [max_sec] [silence_thresh] [silence_hits] */
function recordApp(run: AppRun, deps: AppDeps): void {
  const { core, ch } = run;
  const a = run.arg.trim().split(/\s+/);
  const file = a[0] ?? '';
  const maxSec = Number(a[1] ?? 0) || 0;
  const thresh = Number(a[2] ?? 0) || 0;
  const hits = Number(a[3] ?? 0) || 0;
  const terms = terminatorsOf(ch);
  if (ch.answerState === 'ringing' && ch.direction === 'inbound') core.preAnswer(ch);
  const started = core.now();
  let lastSound = deps.talking(ch) ? started : -1;
  let heardAny = lastSound >= 0;
  let silenceTimer: ReturnType<typeof run.later> | undefined;
  ch.setVar('silence_hits_exhausted', 'false');
  core.fire(ch, 'RECORD_START', { post: { 'Record-File-Path': file } });
  run.setMedia('');
  let done = false;
  const stop = (why: 'silence' | 'terminator' | 'max' | 'hangup' | 'break'): void => {
    if (done) return;
    done = true;
    core.clock.clearTimeout(silenceTimer);
    const elapsed = core.now() - started;
    let ms = 0;
    if (heardAny) {
      ms = why === 'silence' ? Math.max(0, (lastSound < 0 ? 0 : core.now() - hits * 1000 - started)) : elapsed;
      ms = Math.max(0, ms - 220); // the switch's first frames are not written
      ms = Math.floor(ms / 20) * 20;
    }
    if (why === 'silence') ch.setVar('silence_hits_exhausted', 'true');
    const samples = ms * 8;
    const size = writeWav(file, ms, [heardAny ? deps.talkTone(ch) || 440 : 0]);
    ch.setVar('record_record_file_size', String(size));
    ch.setVar('record_file_size', String(size));
    ch.setVar('record_seconds', String(Math.floor(ms / 1000)));
    ch.setVar('record_ms', String(ms));
    ch.setVar('record_samples', String(samples));
    core.fire(ch, 'RECORD_STOP', { post: { 'Record-File-Path': file } });
    run.finish('_none_');
  };
  // silence detection: `hits` seconds without sound (threshold > 0 means detection is on)
  const armSilence = (): void => {
    core.clock.clearTimeout(silenceTimer);
    if (!thresh || !hits) return;
    silenceTimer = run.later(hits * 1000, () => {
      if (deps.talking(ch)) {
        armSilence();
        return;
      }
      stop('silence');
    });
  };
  // energy changes are observed through the clock (every 100 ms of emulated time)
  let wasTalking = deps.talking(ch);
  const tick = (): void => {
    if (done) return;
    const t = deps.talking(ch);
    if (t) {
      lastSound = core.now();
      heardAny = true;
    }
    if (wasTalking && !t) armSilence();
    if (!wasTalking && t) core.clock.clearTimeout(silenceTimer);
    wasTalking = t;
    run.later(100, tick);
  };
  run.later(100, tick);
  if (!wasTalking) armSilence();
  if (maxSec > 0) run.later(maxSec * 1000, () => stop('max'));
  run.dtmf = (d) => {
    if (terms.includes(d)) {
      ch.setVar('playback_terminator_used', d);
      stop('terminator');
    }
  };
  run.onStop((r) => stop(r === 'hangup' ? 'hangup' : 'break'));
}
