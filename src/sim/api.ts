// API commands (`api` / `bgapi`), with the real switch's replies and error strings.
import type { SwitchCore } from './core.js';
import type { Channel } from './channel.js';
import type { Originator } from './originate.js';
import type { Bridger } from './bridge.js';
import { Dialplan, expand } from './dialplan.js';
import type { Directory } from './directory.js';
import { splitArgs, parseInlineApp } from './dialstring.js';
import { localStamp } from './event.js';
import { writeWav } from './media.js';
import { KNOWN_CAUSES, str2cause } from './causes.js';
import type { Scheduler } from './scheduler.js';
import { atol } from './scheduler.js';
import { separate } from './apps.js';
import type { SchedTasks } from './apps.js';

export type ApiReply = (body: string) => void;
export type ApiHandler = (args: string, reply: ApiReply) => void;

export const VERSION = 'FreeSWITCH Version 1.11.3-dev~64bit ( 64bit)';
export const ORIGINATE_USAGE =
  '-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]\n';
const NO_CHANNEL = '-ERR No such channel!\n';
// mod_commands.c: SCHED_TRANSFER_SYNTAX, SCHED_HANGUP_SYNTAX, SCHED_BROADCAST_SYNTAX
const SCHED_TRANSFER_SYNTAX = '[+]<time> <uuid> <extension> [<dialplan>] [<context>]';
const SCHED_HANGUP_SYNTAX = '[+]<time> <uuid> [<cause>]';
const SCHED_BROADCAST_SYNTAX = '[[+]<time>|@time] <uuid> <path> [aleg|bleg|both]';

export interface ApiDeps {
  core: SwitchCore;
  orig: Originator;
  bridger: Bridger;
  dialplan: Dialplan;
  dir: Directory;
  scheduler: Scheduler;
  sched: SchedTasks;
  /** the far end's audio on a leg, for recordings (Hz, 0 = silence) */
  talkTone(ch: Channel): number;
}

interface SessionRecording {
  path: string;
  startedMs: number;
  stereo: boolean;
}

export class ApiCommands {
  readonly table = new Map<string, ApiHandler>();
  private readonly recordings = new WeakMap<Channel, Map<string, SessionRecording>>();
  /** "uuid path" of recordings accepted but not started yet (the start is deferred a tick) */
  private readonly pendingRecordings = new Set<string>();

  constructor(private readonly d: ApiDeps) {
    this.install();
    d.core.onHangupHooks.add((ch) => {
      const recs = this.recordings.get(ch);
      if (recs) for (const p of [...recs.keys()]) this.stopRecording(ch, p, 'success');
    });
  }

  /** run "cmd args"; the reply may come later (originate waits for its result) */
  run(line: string, reply: ApiReply): void {
    const t = line.trim();
    const sp = t.indexOf(' ');
    const cmd = sp < 0 ? t : t.slice(0, sp);
    const args = sp < 0 ? '' : t.slice(sp + 1).trim();
    const h = this.table.get(cmd.toLowerCase());
    if (!h) {
      reply(`-ERR ${cmd} Command not found!\n`);
      return;
    }
    try {
      h(args, reply);
    } catch (e) {
      reply(`-ERR ${(e as Error).message}\n`);
    }
  }

  private ch(uuid: string | undefined): Channel | undefined {
    if (!uuid) return undefined;
    const c = this.d.core.channels.get(uuid);
    return c && c.alive ? c : undefined;
  }

  private install(): void {
    const { core, orig, bridger, dialplan, dir } = this.d;
    const T = this.table;
    const later = (fn: () => void, ms = 0): void => void core.later(ms, fn);

    T.set('status', (_a, r) => r(this.status()));
    T.set('version', (_a, r) => r(`${VERSION}\n`));
    T.set('uptime', (_a, r) => r(String(Math.floor((core.now() - core.startedMs) / 1000))));
    T.set('hostname', (_a, r) => r(core.identity.hostname));
    T.set('reloadxml', (_a, r) => r('+OK [Success]\n'));
    // the emulator's directory keeps no user cache: nothing to clear (mod_commands' reply text)
    T.set('xml_flush_cache', (_a, r) => r('+OK cleared 0 entries\n'));
    T.set('echo', (a, r) => r(a));
    T.set('global_setvar', (a, r) => {
      const i = a.indexOf('=');
      const k = (i < 0 ? a : a.slice(0, i)).trim();
      const v = i < 0 ? '' : a.slice(i + 1).trim();
      if (v) core.globals.set(k, v);
      else core.globals.delete(k);
      r('+OK');
    });
    T.set('global_getvar', (a, r) => {
      if (!a) {
        r([...core.globals].map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
        return;
      }
      r(core.globals.get(a.trim()) ?? '');
    });
    T.set('eval', (a, r) => {
      const m = /^uuid:(\S+)\s+(.*)$/.exec(a);
      r(m ? expand(core, this.ch(m[1]), m[2]!) : expand(core, undefined, a));
    });

    T.set('originate', (a, r) => this.originate(a, r));

    T.set('uuid_exists', (a, r) => r(this.ch(a.split(/\s+/)[0]) ? 'true' : 'false'));
    T.set('uuid_answer', (a, r) => {
      const ch = this.ch(a.split(/\s+/)[0]);
      if (!ch) return r('-ERROR\n');
      later(() => {
        core.answer(ch);
        r('+OK\n');
      }, 20);
    });
    // mod_commands.c uuid_phone_event_function: "<uuid> [talk|hold]" → SWITCH_MESSAGE_INDICATE_PHONE_EVENT;
    // "+OK Success\n", or "-ERR Operation Failed\n" when the session is not found. mod_sofia.c (that message):
    // the event is "hold" for "hold", else "talk"; on an inbound leg not yet answered it only logs an error (no
    // NOTIFY, reply still +OK), otherwise it sends NOTIFY Event: <talk|hold> in the leg's dialog. What the phone
    // does with it is the phone's business: the world's far end decides (SimPhone answers a ringing call on talk).
    T.set('uuid_phone_event', (a, r) => {
      const [u, arg] = a.split(/\s+/).filter(Boolean);
      const ch = u ? this.ch(u) : undefined;
      if (!ch || !ch.alive) return r('-ERR Operation Failed\n');
      r('+OK Success\n');
      const event = arg && arg.toLowerCase() === 'hold' ? 'hold' : 'talk';
      if (ch.direction === 'inbound' && !ch.answered) return;
      const far = ch.owner as { onPhoneEvent?: (c: typeof ch, e: 'talk' | 'hold') => void } | undefined;
      // the NOTIFY reaches the phone after a SIP hop
      later(() => far?.onPhoneEvent?.(ch, event), 20);
    });
    T.set('uuid_pre_answer', (a, r) => {
      const ch = this.ch(a.split(/\s+/)[0]);
      if (!ch) return r('-ERROR\n');
      core.preAnswer(ch);
      r('+OK\n');
    });
    T.set('uuid_kill', (a, r) => {
      const [u, c] = a.split(/\s+/);
      const ch = this.ch(u);
      if (!ch) return r(NO_CHANNEL);
      const cause = c && KNOWN_CAUSES.has(c) ? c : 'NORMAL_CLEARING';
      core.hangup(ch, cause);
      r('+OK\n');
    });
    T.set('uuid_setvar', (a, r) => {
      const m = /^(\S+)\s+(\S+)(?:\s+(.*))?$/.exec(a);
      const ch = this.ch(m?.[1]);
      if (!ch || !m) return r(NO_CHANNEL);
      ch.setVar(m[2]!, m[3] === undefined ? undefined : m[3]);
      r('+OK\n');
    });
    T.set('uuid_setvar_multi', (a, r) => {
      const m = /^(\S+)\s+(.*)$/.exec(a);
      const ch = this.ch(m?.[1]);
      if (!ch || !m) return r(NO_CHANNEL);
      for (const kv of m[2]!.split(';')) {
        const i = kv.indexOf('=');
        if (i > 0) ch.setVar(kv.slice(0, i), kv.slice(i + 1));
      }
      r('+OK\n');
    });
    T.set('uuid_getvar', (a, r) => {
      const [u, v] = a.split(/\s+/);
      const ch = this.ch(u);
      if (!ch) return r(NO_CHANNEL);
      r(ch.getVar(v ?? '') ?? '_undef_');
    });
    T.set('uuid_break', (a, r) => {
      const ch = this.ch(a.split(/\s+/)[0]);
      if (!ch) return r(NO_CHANNEL);
      r('+OK\n');
      later(() => core.breakNested(ch), 20);
    });
    T.set('uuid_park', (a, r) => {
      const ch = this.ch(a.split(/\s+/)[0]);
      if (!ch) return r(NO_CHANNEL);
      r('+OK\n');
      later(() => {
        const br = core.bridges.get(ch);
        core.moved.add(ch);
        core.stopAllApps(ch, 'transfer');
        core.moved.delete(ch);
        if (br) core.endBridge(br, br.a === ch ? br.b : br.a);
        core.execute(ch, 'park', '');
      });
    });
    T.set('uuid_hold', (a, r) => {
      const parts = a.split(/\s+/).filter(Boolean);
      let mode: 'on' | 'off' | 'toggle' = 'on';
      if (parts[0] === 'off' || parts[0] === 'toggle') mode = parts.shift() as 'off' | 'toggle';
      const ch = this.ch(parts[0]);
      r('+OK Success\n'); // the real switch says so even for an unknown uuid
      if (!ch) return;
      bridger.hold(ch, mode === 'toggle' ? !ch.held : mode === 'on');
    });
    T.set('uuid_broadcast', (a, r) => {
      const parts = a.split(/\s+/);
      const ch = this.ch(parts[0]);
      if (!ch || !parts[1]) return r('-ERR invalid uuid\n');
      const legs = parts[2] ?? 'aleg';
      r('+OK Message sent\n');
      later(() => {
        if (legs === 'aleg' || legs === 'both') bridger.broadcast(ch, parts[1]!);
        if ((legs === 'bleg' || legs === 'both') && ch.partner) bridger.broadcast(ch.partner, parts[1]!);
      }, 200);
    });
    T.set('uuid_bridge', (a, r) => {
      const [u1, u2] = a.split(/\s+/);
      const A = this.ch(u1);
      const B = this.ch(u2);
      if (!A || !B) return r('-ERR Invalid uuid\n');
      r(`+OK ${B.uuid}\n`);
      later(() => bridger.uuidBridge(A, B), 20);
    });
    T.set('uuid_transfer', (a, r) => {
      const parts = a.split(/\s+/).filter(Boolean);
      const ch = this.ch(parts[0]);
      if (!ch) return r(NO_CHANNEL);
      let which: 'aleg' | 'bleg' | 'both' = 'aleg';
      if (parts[1] === '-bleg' || parts[1] === '-both') {
        which = parts[1] === '-bleg' ? 'bleg' : 'both';
        parts.splice(1, 1);
      }
      const dest = parts[1];
      if (!dest) return r('-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n');
      const dp = parts[2] ?? 'XML';
      const ctx = parts[3] ?? ch.profile.context;
      r('+OK\n');
      later(() => {
        const partner = ch.partner;
        if (which === 'both' && partner) {
          // both legs leave the bridge alive and run the new extension
          const br = core.bridges.get(ch)!;
          core.bridges.delete(br.a);
          core.bridges.delete(br.b);
          ch.partner = undefined;
          partner.partner = undefined;
          const prevA = ch.profile.destination;
          const prevB = partner.profile.destination;
          ch.profile.destination = dest;
          core.fire(br.a, 'CHANNEL_UNBRIDGE', { pre: { 'Bridge-A-Unique-ID': br.a.uuid, 'Bridge-B-Unique-ID': br.b.uuid } });
          dialplan.transfer(ch, dest, dp, ctx, prevA);
          dialplan.transfer(partner, dest, dp, ctx, prevB);
          return;
        }
        dialplan.transfer(which === 'bleg' && partner ? partner : ch, dest, dp, ctx);
      }, 20);
    });
    T.set('uuid_send_dtmf', (a, r) => {
      const [u, digits] = a.split(/\s+/);
      const ch = this.ch(u);
      if (!ch) return r('-ERR Cannot locate session!\n');
      const fe = ch.owner as { onSwitchDtmf?(ch: Channel, d: string): void } | undefined;
      fe?.onSwitchDtmf?.(ch, digits ?? '');
      // the real switch's reply (mod_commands uuid_send_dtmf), checked on FreeSWITCH 1.11
      r(`+OK ${ch.uuid} sent DTMF ${digits ?? ''}.\n`);
    });
    // keys queued on a channel as if it had received them (switch_channel_queue_dtmf_string): the app running on it
    // reads them, e.g. eavesdrop's mode keys on a supervisor's leg; the DTMF event fires as the app dequeues them
    T.set('uuid_recv_dtmf', (a, r) => {
      const [u, digits] = a.split(/\s+/);
      const ch = this.ch(u);
      if (!ch) return r('-ERR Cannot locate session!\n');
      r(`+OK ${ch.uuid} received DTMF ${digits ?? ''}.\n`);
      for (const d of digits ?? '') core.dtmf(ch, d, 'APP');
    });
    T.set('uuid_record', (a, r) => {
      const [u, action, path, limit] = a.split(/\s+/);
      const ch = this.ch(u);
      if (!ch) return r('-ERR Cannot locate session!\n');
      if (action === 'start' && path) {
        const key = `${ch.uuid} ${path}`;
        this.pendingRecordings.add(key);
        later(() => {
          this.pendingRecordings.delete(key);
          this.startRecording(ch, path, Number(limit) || 0);
        }, 20);
        r('+OK Success\n');
      } else if (action === 'stop' && path) {
        this.stopRecording(ch, path, 'success-maxtime');
        r('+OK Success\n');
      } else if (action === 'mask' || action === 'unmask') {
        // the real switch refuses a mask of a path the leg is not recording: "-ERR Cannot mask recording session!"
        if (path && !this.recordings.get(ch)?.has(path) && !this.pendingRecordings.has(`${ch.uuid} ${path}`)) return r(`-ERR Cannot ${action} recording session!\n`);
        r('+OK Success\n');
      }
      else r('-USAGE: <uuid> [start|stop|mask|unmask] <path> [<limit>] [<recording_vars>]\n');
    });

    this.installSched();
    T.set('show', (a, r) => r(this.show(a)));
    T.set('hupall', (a, r) => {
      const [cause, k, v] = a.split(/\s+/).filter(Boolean);
      const c = cause && KNOWN_CAUSES.has(cause) ? cause : 'MANAGER_REQUEST';
      const matching = k && v !== undefined;
      for (const ch of [...core.channels.values()]) if (!matching || ch.getVar(k) === v) core.hangup(ch, c);
      r(matching ? `+OK hangup all channels matching [${k}]=[${v}] with cause: ${c}\n` : `+OK hangup all channels with cause ${c}\n`);
    });
    T.set('sofia', (a, r) => {
      const m = /^status\s+profile\s+(\S+)\s+reg(?:\s+(\S+))?/.exec(a);
      if (m) return r(dir.statusReg(m[2]));
      if (/^status/.test(a)) return r(this.sofiaStatus());
      r('-ERR Usage: sofia status|xmlstatus|profile ...\n');
    });
    T.set('sofia_contact', (a, r) => {
      const u = a.split('@')[0]!.replace(/^\*\//, '');
      const reg = dir.regs.get(u);
      r(reg ? `sofia/internal/sip:${reg.contactUser}@${reg.host}:${reg.port}` : 'error/user_not_registered');
    });
    T.set('user_exists', (a, r) => {
      const [, user] = a.split(/\s+/);
      r(user && dir.users.has(user) ? 'true' : 'false');
    });
  }

  /**
   * sched_transfer / sched_hangup / sched_broadcast / sched_del as mod_commands.c has them (time first, then the
   * uuid; the tasks' group is the uuid). Replies are the source's strings, byte for byte.
   */
  private installSched(): void {
    const { core, scheduler: s, sched } = this.d;
    const T = this.table;
    const when = (t: string): number => (t.startsWith('+') ? s.nowSec() + atol(t.slice(1)) : atol(t));
    const exists = (uuid: string | undefined): boolean => !!this.ch(uuid);

    T.set('sched_transfer', (a, r) => {
      const argv = separate(a, 6);
      if (!a || argv.length < 2 || argv.length > 5 || !argv[0]) return r(`-USAGE: ${SCHED_TRANSFER_SYNTAX}\n`);
      const [t, uuid, dest, dp, ctx] = argv as [string, string, string?, string?, string?];
      if (!exists(uuid)) return r('-ERR No such channel!\n');
      sched.transfer(s, when(t), uuid, dest, dp, ctx);
      r('+OK\n');
    });
    T.set('sched_hangup', (a, r) => {
      const argv = separate(a, 4);
      if (!a || argv.length < 1 || !argv[0]) return r(`-USAGE: ${SCHED_HANGUP_SYNTAX}\n`);
      const [t, uuid, causeStr] = argv as [string, string?, string?];
      const cause = causeStr !== undefined ? str2cause(causeStr) : 'ALLOTTED_TIMEOUT';
      // sec is read past the first character whether or not it is '+': "0", "+0" or "5" hang up at once
      const sec = atol(t.slice(1));
      const ch = this.ch(uuid);
      if (!ch) return r('-ERR No such channel!\n');
      if (sec === 0) core.hangup(ch, cause);
      else sched.hangup(s, when(t), ch.uuid, cause, false);
      r('+OK\n');
    });
    T.set('sched_broadcast', (a, r) => {
      const argv = separate(a, 4);
      if (!a || argv.length < 3 || !argv[0]) return r(`-USAGE: ${SCHED_BROADCAST_SYNTAX}\n`);
      const [t, uuid, path, leg] = argv as [string, string, string, string?];
      const at = t.startsWith('@') ? atol(t.slice(1)) : when(t);
      const l = (leg ?? 'aleg').toLowerCase();
      // no session check here: the task finds the session (or not) when it runs
      sched.broadcast(s, at, uuid, path, l === 'both' || l === 'bleg' ? l : 'aleg');
      r('+OK Message scheduled\n');
    });
    T.set('sched_del', (a, r) => {
      if (!a) return r('-ERR Invalid syntax\n');
      let cnt = 0;
      if (/^\d*$/.test(a)) {
        // (uint32_t) atoi(cmd); only ids > 0 are looked up
        const id = atol(a) >>> 0;
        if (id > 0) cnt = s.delId(id);
      } else cnt = s.delGroup(a);
      r(`+OK Deleted: ${cnt}\n`);
    });
  }

  private originate(a: string, reply: ApiReply): void {
    const { core, orig, dialplan } = this.d;
    const argv = splitArgs(a);
    if (argv.length < 2) {
      reply(ORIGINATE_USAGE);
      return;
    }
    const url = argv[0]!;
    const target = argv[1]!;
    const inline = parseInlineApp(target);
    const dp = argv[2] ?? 'XML';
    const context = argv[3] ?? 'default';
    const vars = new Map<string, string>();
    if (argv[4]) vars.set('origination_caller_id_name', argv[4]);
    if (argv[5]) vars.set('origination_caller_id_number', argv[5]);
    if (argv[6]) vars.set('originate_timeout', argv[6]);
    let replied = false;
    orig.dial(url, {
      vars,
      onResult: (res) => {
        if (replied) return;
        replied = true;
        reply(res.ok ? `+OK ${res.ch.uuid}\n` : `-ERR ${res.cause}\n`);
      },
      onReady: (ch) => {
        if (!ch.alive) return;
        if (inline) {
          core.setState(ch, 'CS_EXECUTE');
          core.execute(ch, inline.app, inline.arg, () => {
            if (ch.alive && !core.moved.has(ch)) core.hangup(ch, 'NORMAL_CLEARING');
          });
          return;
        }
        if (dp === 'inline') {
          core.setState(ch, 'CS_EXECUTE');
          dialplan.runActions(ch, Dialplan.parseInline(target));
          return;
        }
        ch.profile.destination = target;
        ch.profile.context = context;
        core.setState(ch, 'CS_EXECUTE');
        dialplan.run(ch);
      },
    });
  }

  // ---- uuid_record ---------------------------------------------------------------------------------
  private startRecording(ch: Channel, path: string, limitSec: number): void {
    const core = this.d.core;
    if (!ch.alive) return;
    let recs = this.recordings.get(ch);
    if (!recs) this.recordings.set(ch, (recs = new Map()));
    const stereo = (ch.getVar('RECORD_STEREO') ?? ch.getVar('record_stereo_session') ?? '').toLowerCase() === 'true';
    recs.set(path, { path, startedMs: core.now(), stereo });
    core.fire(ch, 'RECORD_START', { post: { 'Record-File-Path': path } });
    if (limitSec > 0) core.later(limitSec * 1000, () => this.stopRecording(ch, path, 'success-maxtime'));
  }

  private stopRecording(ch: Channel, path: string, cause: string): void {
    const core = this.d.core;
    const recs = this.recordings.get(ch);
    const rec = recs?.get(path) ?? (path === 'all' && recs ? [...recs.values()][0] : undefined);
    if (!rec || !recs) return;
    recs.delete(rec.path);
    const ms = Math.max(0, Math.round(core.now() - rec.startedMs));
    const a = this.d.talkTone(ch);
    const b = ch.partner ? this.d.talkTone(ch.partner) : 0;
    const size = writeWav(rec.path, ms, rec.stereo ? [a, b] : [a || b]);
    const samples = Math.round(ms * 8);
    ch.setVar('record_file_size', String(size));
    ch.setVar('record_samples', String(samples));
    ch.setVar('record_seconds', String(Math.floor(ms / 1000)));
    ch.setVar('record_ms', String(ms));
    ch.setVar('record_completion_cause', cause);
    core.fire(ch, 'RECORD_STOP', { post: { 'Record-File-Path': rec.path, 'Record-Completion-Cause': cause } });
  }

  // ---- status / show -------------------------------------------------------------------------------
  status(): string {
    const core = this.d.core;
    const up = core.now() - core.startedMs;
    const us = Math.floor((up * 1000) % 1000);
    const ms = Math.floor(up % 1000);
    let s = Math.floor(up / 1000);
    const days = Math.floor(s / 86400);
    s -= days * 86400;
    const h = Math.floor(s / 3600);
    s -= h * 3600;
    const m = Math.floor(s / 60);
    s -= m * 60;
    const years = Math.floor(days / 365);
    const n = core.channels.size;
    return (
      `UP ${years} years, ${days % 365} days, ${h} hours, ${m} minutes, ${s} seconds, ${ms} milliseconds, ${us} microseconds\n` +
      `FreeSWITCH (Version 1.11.3-dev  64bit) is ready\n` +
      `${core.sessionsSinceStartup} session(s) since startup\n` +
      `${n} session(s) - peak ${core.sessionPeak}, last 5min ${core.sessionPeak} \n` +
      `0 session(s) per Sec out of max 30, peak 0, last 5min 0 \n` +
      `${core.maxSessions} session(s) max\n` +
      `min idle cpu 0.00/99.00\n` +
      `Current Stack Size/Max 240K/8192K\n`
    );
  }

  private sofiaStatus(): string {
    const line = '='.repeat(97);
    return (
      `                     Name\t   Type\t                                      Data\tState\n${line}\n` +
      `               127.0.0.1\t  alias\t                                  internal\tALIASED\n` +
      `                internal\tprofile\t               sip:mod_sofia@127.0.0.1:5060\tRUNNING (0)\n` +
      `${line}\n1 profile 1 alias\n\n`
    );
  }

  private channelRow(ch: Channel): Record<string, string> {
    const p = ch.profile;
    const app = ch.vars.get('current_application') ?? '';
    const inbound = ch.direction === 'inbound';
    return {
      uuid: ch.uuid,
      direction: ch.direction,
      created: localStamp(p.createdMs),
      created_epoch: String(Math.floor(p.createdMs / 1000)),
      name: ch.name,
      state: ch.state,
      cid_name: p.cidName ?? '',
      cid_num: p.cidNumber,
      ip_addr: p.networkAddr ?? '',
      dest: p.destination,
      application: app,
      application_data: ch.vars.get('current_application_data') ?? '',
      dialplan: p.dialplan ?? '',
      context: p.context,
      read_codec: ch.media ? 'PCMA' : '',
      read_rate: ch.media ? '8000' : '',
      read_bit_rate: ch.media ? '64000' : '',
      write_codec: ch.media ? 'PCMA' : '',
      write_rate: ch.media ? '8000' : '',
      write_bit_rate: ch.media ? '64000' : '',
      secure: '',
      hostname: this.d.core.identity.hostname,
      presence_id: ch.presenceId ?? '',
      presence_data: '',
      accountcode: ch.vars.get('accountcode') ?? '',
      callstate: ch.callState,
      callee_name: '',
      callee_num: ch.partner ? '0000000000' : '',
      callee_direction: ch.partner ? 'SEND' : '',
      call_uuid: ch.partner ? (ch.vars.get('call_uuid') ?? '') : '',
      sent_callee_name: ch.partner ? (inbound ? '0000000000' : ch.partner.profile.cidNumber) : '',
      sent_callee_num: ch.partner ? (inbound ? '0000000000' : ch.partner.profile.cidNumber) : '',
      initial_cid_name: p.origCidName ?? '',
      initial_cid_num: p.origCidNumber ?? '',
      initial_ip_addr: p.networkAddr ?? '',
      initial_dest: p.destination,
      initial_dialplan: p.dialplan ?? '',
      initial_context: p.context,
    };
  }

  private callRow(a: Channel, b: Channel | undefined): Record<string, string> {
    const ra = this.channelRow(a);
    const row: Record<string, string> = {};
    for (const k of ['uuid', 'direction', 'created', 'created_epoch', 'name', 'state', 'cid_name', 'cid_num', 'ip_addr', 'dest', 'presence_id', 'presence_data', 'accountcode', 'callstate', 'callee_name', 'callee_num', 'callee_direction', 'call_uuid', 'hostname', 'sent_callee_name', 'sent_callee_num']) row[k] = ra[k] ?? '';
    const rb = b ? this.channelRow(b) : undefined;
    for (const k of ['uuid', 'direction', 'created', 'created_epoch', 'name', 'state', 'cid_name', 'cid_num', 'ip_addr', 'dest', 'presence_id', 'presence_data', 'accountcode', 'callstate', 'callee_name', 'callee_num', 'callee_direction', 'sent_callee_name', 'sent_callee_num']) row[`b_${k}`] = rb ? (rb[k] ?? '') : '';
    row.call_created_epoch = b ? String(Math.floor((b.profile.bridgedMs || b.profile.createdMs) / 1000)) : '';
    return row;
  }

  show(a: string): string {
    const core = this.d.core;
    const words = a.trim().split(/\s+/);
    const what = words[0] ?? '';
    const asJson = /\bas\s+json\b/.test(a);
    const count = words[1] === 'count';
    let rows: Record<string, string>[];
    const live = [...core.channels.values()].filter((c) => !c.destroyed);
    if (what === 'channels') rows = live.map((c) => this.channelRow(c));
    else if (what === 'calls' || what === 'bridged_calls') {
      rows = [];
      for (const c of live) {
        const br = core.bridges.get(c);
        if (br) {
          if (br.a === c) rows.push(this.callRow(c, br.b));
        } else if (what === 'calls') rows.push(this.callRow(c, undefined));
      }
    } else if (what === 'registrations') {
      rows = [...this.d.dir.regs.values()].map((r) => ({ reg_user: r.user, realm: this.d.dir.domain, token: r.callId, url: r.contact, expires: String(Math.floor((r.registeredMs + r.expiresSec * 1000) / 1000)), network_ip: r.host, network_port: String(r.port), network_proto: 'udp', hostname: core.identity.hostname, metadata: '' }));
    } else return `-USAGE: codec|endpoint|application|api|dialplan|file|timer|calls [count]|channels [count|like <match string>]|calls|detailed_calls|bridged_calls|detailed_bridged_calls|aliases|complete|chat|management|modules|nat_map|say|interfaces|interface_types|tasks|limits|status\n`;
    if (count) return `\n${rows.length} total.\n`;
    if (asJson) return rows.length ? JSON.stringify({ row_count: rows.length, rows }) : JSON.stringify({ row_count: 0 });
    if (!rows.length) return '\n0 total.\n';
    const cols = Object.keys(rows[0]!);
    return `${cols.join(',')}\n${rows.map((r) => cols.map((c) => r[c]).join(',')).join('\n')}\n\n${rows.length} total.\n`;
  }
}

