// mod_conference as the CTI uses it: the conference app, `conference <name> list|json_list|kick|mute|unmute|dial|hup`,
// and CUSTOM conference::maintenance events (create, add/del/kick-member, floor-change, sounds, destroy).
import { randomUUID } from 'node:crypto';
import type { AppRun, SwitchCore } from './core.js';
import type { Channel } from './channel.js';
import type { Originator } from './originate.js';
import type { AppDeps } from './apps.js';
import { EslEvent } from './event.js';
import type { Headers } from './event.js';
import type { ApiReply } from './api.js';

const ENTER_SOUND = 'tone_stream://%(200,0,500,600,700)';
const EXIT_SOUND = 'tone_stream://%(500,0,300,200,100,50,25)';

interface Member {
  id: number;
  ch: Channel;
  run: AppRun;
  canSpeak: boolean;
  canHear: boolean;
  joinedMs: number;
  kicked: boolean;
}

class Conference {
  readonly uuid = randomUUID();
  readonly members: Member[] = [];
  nextId = 1;
  floor?: Member;
  readonly createdMs: number;
  constructor(
    readonly name: string,
    readonly profile: string,
    now: number,
  ) {
    this.createdMs = now;
  }
}

export class Conferences {
  readonly rooms = new Map<string, Conference>();
  private readonly byChannel = new WeakMap<Channel, { conf: Conference; m: Member }>();

  constructor(
    private readonly core: SwitchCore,
    private readonly orig: Originator,
    private readonly deps: AppDeps,
  ) {
    core.hearingProviders.push((ch) => {
      const x = this.byChannel.get(ch);
      return x && !x.m.kicked ? `conference:${x.conf.name}` : undefined;
    });
  }

  memberOf(ch: Channel): { name: string; memberId: number } | undefined {
    const x = this.byChannel.get(ch);
    return x ? { name: x.conf.name, memberId: x.m.id } : undefined;
  }

  private confHeaders(conf: Conference, action?: string): Headers {
    const h = this.core.events.core('CUSTOM', ['mod_conference.c', 'conference_event_send', 1], 'conference::maintenance');
    h['Conference-Name'] = conf.name;
    h['Conference-Domain'] = '127.0.0.1';
    h['Conference-Size'] = String(conf.members.length);
    h['Conference-Ghosts'] = '0';
    h['Conference-Profile-Name'] = conf.profile;
    h['Conference-Unique-ID'] = conf.uuid;
    if (action) h.Action = action;
    return h;
  }
  private emitConf(conf: Conference, action: string, extra: Headers = {}): void {
    const h = this.confHeaders(conf);
    Object.assign(h, extra);
    h.Action = action;
    this.core.emit(new EslEvent('CUSTOM', h, undefined, 'conference::maintenance'));
  }
  private emitMember(conf: Conference, m: Member, action: string, extra: Headers = {}): void {
    const h = this.confHeaders(conf);
    if (extra['Old-ID']) h['Old-ID'] = extra['Old-ID'];
    h.Floor = conf.floor === m ? 'true' : 'false';
    m.ch.basic(h);
    h.Video = 'false';
    h.Hear = m.canHear ? 'true' : 'false';
    h.See = 'true';
    h.Speak = m.canSpeak ? 'true' : 'false';
    h.Talking = 'false';
    h['Mute-Detect'] = 'false';
    h.Hold = 'false';
    h['Member-ID'] = String(m.id);
    h['Member-Type'] = 'member';
    h['Member-Ghost'] = 'false';
    h['Energy-Level'] = '100';
    h['Current-Energy'] = '0';
    if (extra['New-ID']) h['New-ID'] = extra['New-ID'];
    h.Action = action;
    m.ch.profiles(h, true);
    this.core.emit(new EslEvent('CUSTOM', h, undefined, 'conference::maintenance'));
  }

  private playDone(conf: Conference, file: string, ms: number): void {
    this.core.later(ms, () => {
      if (!this.rooms.has(conf.name)) return;
      this.emitConf(conf, 'play-file-done', { seconds: String(Math.floor(ms / 1000)), milliseconds: String(ms), samples: String(ms * 8), File: file });
    });
  }

  /** conference <name>[@profile] */
  app(run: AppRun): void {
    const core = this.core;
    const ch = run.ch;
    const [name0, profile = 'default'] = run.arg.trim().split('@');
    const name = (name0 ?? '').split('+')[0] || 'conference';
    if (!ch.answered) core.answer(ch);
    let conf = this.rooms.get(name);
    const fresh = !conf;
    if (!conf) {
      conf = new Conference(name, profile, core.now());
      this.rooms.set(name, conf);
      this.emitConf(conf, 'conference-create');
    }
    const m: Member = { id: conf.nextId++, ch, run, canSpeak: true, canHear: true, joinedMs: core.now(), kicked: false };
    conf.members.push(m);
    this.byChannel.set(ch, { conf, m });
    if (fresh) this.alone(conf);
    this.emitMember(conf, m, 'add-member');
    if (conf.members.length >= 2) this.playDone(conf, ENTER_SOUND, 600);
    const c = conf;
    core.later(20, () => this.assignFloor(c));
    core.updateHearing(ch);
    for (const o of conf.members) core.updateHearing(o.ch);
    run.onStop(() => this.leave(c, m));
  }

  private alone(conf: Conference): void {
    this.emitConf(conf, 'play-file', {
      File: '/opt/fs-switch/sounds/en/us/callie/conference/conf-alone.wav',
      Async: 'false',
      Error: 'File could not be played',
    });
  }

  private assignFloor(conf: Conference): void {
    if (conf.floor || conf.members.length < 2 || !this.rooms.has(conf.name)) return;
    const m = conf.members[conf.members.length - 1]!;
    conf.floor = m;
    this.emitMember(conf, m, 'floor-change', { 'Old-ID': 'none', 'New-ID': String(m.id) });
  }

  private leave(conf: Conference, m: Member): void {
    const core = this.core;
    const i = conf.members.indexOf(m);
    if (i < 0) {
      m.run.finish('_none_');
      return;
    }
    if (conf.floor === m) {
      conf.floor = undefined;
      this.emitConf(conf, 'floor-change', { 'Old-ID': 'none', 'New-ID': 'none' });
    }
    if (conf.members.length === 2) this.alone(conf);
    conf.members.splice(i, 1);
    this.emitMember(conf, m, 'del-member');
    this.byChannel.delete(m.ch);
    m.run.finish('_none_');
    for (const o of conf.members) core.updateHearing(o.ch);
    if (!conf.members.length) {
      this.emitConf(conf, 'play-file-done', { seconds: '0', milliseconds: '160', samples: '1280', File: core.globals.get('hold_music') ?? 'local_stream://moh', Async: 'true' });
      this.emitConf(conf, 'conference-destroy');
      this.rooms.delete(conf.name);
      return;
    }
    this.playDone(conf, EXIT_SOUND, 500);
    core.later(23, () => this.assignFloor(conf));
  }

  private find(conf: Conference, which: string): Member[] {
    if (which === 'all') return [...conf.members];
    if (which === 'last') return conf.members.length ? [conf.members[conf.members.length - 1]!] : [];
    const id = Number(which);
    return conf.members.filter((m) => m.id === id || m.ch.uuid === which);
  }

  /** conference api */
  api(args: string, reply: ApiReply): void {
    const core = this.core;
    const parts = args.trim().split(/\s+/);
    const name = parts[0];
    if (!name || name === 'list' && parts.length === 1) {
      reply([...this.rooms.values()].map((c) => `+OK Conference ${c.name} (${c.members.length} member${c.members.length === 1 ? '' : 's'} rate: 8000 flags: running|answered|enforce_min|dynamic|exit_sound|enter_sound)\n${this.listBody(c)}`).join(''));
      return;
    }
    const cmd = parts[1] ?? 'list';
    const conf = this.rooms.get(name);
    if (cmd === 'dial') {
      const ep = parts[2];
      if (!ep) return reply('-ERR Conference dial requires an endpoint\n');
      const vars = new Map<string, string>();
      if (parts[3]) vars.set('origination_caller_id_number', parts[3]);
      if (parts[4]) vars.set('origination_caller_id_name', parts[4]);
      this.orig.dial(ep, {
        vars,
        onResult: (r) => reply(r.ok ? `Call Requested: result: [SUCCESS]\n` : `Call Requested: result: [${r.cause}]\n`),
        onReady: (ch) => {
          core.setState(ch, 'CS_EXECUTE');
          core.execute(ch, 'conference', `${name}@${conf?.profile ?? 'default'}`, () => {
            if (ch.alive && !core.moved.has(ch)) core.hangup(ch, 'NORMAL_CLEARING');
          });
        },
      });
      return;
    }
    if (!conf) return reply(`-ERR Conference ${name} not found\n`);
    switch (cmd) {
      case 'list':
        return reply(this.listBody(conf));
      case 'count':
        return reply(`${conf.members.length}\n`);
      case 'json_list':
        return reply(this.jsonList(conf));
      case 'kick':
      case 'hup': {
        const ms = this.find(conf, parts[2] ?? '');
        if (!ms.length) return reply(`-ERR Member ${parts[2] ?? ''} not found\n`);
        reply(ms.map((m) => `+OK ${cmd === 'kick' ? 'kicked' : 'hup'} ${m.id}\n`).join(''));
        for (const m of ms) {
          m.kicked = true;
          if (cmd === 'kick') this.emitMember(conf, m, 'kick-member');
          core.later(20, () => {
            if (cmd === 'hup') core.hangup(m.ch, 'NORMAL_CLEARING');
            else m.run.stop('kick');
          });
        }
        return;
      }
      case 'mute':
      case 'unmute':
      case 'deaf':
      case 'undeaf': {
        const ms = this.find(conf, parts[2] ?? '');
        if (!ms.length) return reply(`-ERR Member ${parts[2] ?? ''} not found\n`);
        for (const m of ms) {
          if (cmd === 'mute' || cmd === 'unmute') m.canSpeak = cmd === 'unmute';
          else m.canHear = cmd === 'undeaf';
          this.emitMember(conf, m, cmd === 'mute' ? 'mute-member' : cmd === 'unmute' ? 'unmute-member' : cmd === 'deaf' ? 'deaf-member' : 'undeaf-member');
        }
        return reply(ms.map((m) => `+OK ${cmd} ${m.id}\n`).join(''));
      }
      default:
        return reply(`-ERR Unknown conference command ${cmd}\n`);
    }
  }

  private listBody(conf: Conference): string {
    return [...conf.members]
      .reverse()
      .map((m) => {
        const flags = [m.canHear ? 'hear' : '', m.canSpeak ? 'speak' : '', conf.floor === m ? 'floor' : ''].filter(Boolean).join('|');
        return `${m.id};${m.ch.name};${m.ch.uuid};${m.ch.profile.cidName ?? ''};${m.ch.profile.cidNumber};${flags};0;0;100\n`;
      })
      .join('');
  }

  private jsonList(conf: Conference): string {
    const now = this.core.now();
    const t = '\t';
    const members = [...conf.members].reverse().map((m) => {
      const flags = [
        ['can_hear', m.canHear], ['can_see', true], ['can_speak', m.canSpeak], ['hold', false], ['mute_detect', false],
        ['talking', false], ['has_video', false], ['video_bridge', false], ['has_floor', conf.floor === m],
        ['is_moderator', false], ['end_conference', false], ['mandatory_member_end_conference', false], ['pass_digits', false],
      ].map(([k, v]) => `${t.repeat(5)}"${k}":${t}${v}`).join(',\n');
      const f = (k: string, v: string | number): string => `${t.repeat(4)}"${k}":${t}${typeof v === 'number' ? v : JSON.stringify(v)}`;
      return (
        `{\n${f('type', 'caller')},\n${f('id', m.id)},\n${t.repeat(4)}"flags":${t}{\n${flags}\n${t.repeat(4)}},\n` +
        [f('uuid', m.ch.uuid), f('caller_id_name', m.ch.profile.cidName ?? ''), f('caller_id_number', m.ch.profile.cidNumber), f('join_time', Math.floor((now - m.joinedMs) / 1000)), f('last_talking', 0), f('energy', 100), f('volume_in', 0), f('volume_out', 0), f('output-volume', 0), f('input-volume', 0)].join(',\n') +
        `\n${t.repeat(3)}}`
      );
    });
    const c = (k: string, v: string | number | boolean): string => `${t.repeat(2)}"${k}":${t}${typeof v === 'string' ? JSON.stringify(v) : v}`;
    const head = [
      c('conference_name', conf.name), c('member_count', conf.members.length), c('ghost_count', 0), c('rate', 8000),
      c('run_time', Math.floor((now - conf.createdMs) / 1000)), c('conference_uuid', conf.uuid), c('canvas_count', 0),
      c('max_bw_in', 0), c('force_bw_in', 0), c('video_floor_packets', 0), c('locked', false), c('destruct', false),
      c('wait_mod', false), c('audio_always', false), c('running', true), c('answered', true), c('enforce_min', true),
      c('bridge_to', false), c('dynamic', true), c('exit_sound', true), c('enter_sound', true), c('recording', false),
      c('video_bridge', false), c('video_floor_only', false), c('video_rfc4579', false),
    ].join(',\n');
    return `[{\n${head},\n${t.repeat(2)}"variables":${t}{\n${t.repeat(2)}},\n${t.repeat(2)}"members":${t}[${members.join(', ')}]\n${t}}]`;
  }

  unusedDeps(): AppDeps {
    return this.deps;
  }
}
