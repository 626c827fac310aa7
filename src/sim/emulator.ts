// Wiring: one emulated FreeSWITCH = core + directory + dialplan + apps + api + world + ESL server.
import type { Clock } from './clock.js';
import { RealClock, VirtualClock } from './clock.js';
import { SwitchCore } from './core.js';
import type { SwitchIdentity } from './event.js';
import { MediaLibrary } from './media.js';
import { Directory } from './directory.js';
import { Dialplan, defaultRules, DEFAULT_BUSY_PROMPT, DEFAULT_FALLBACK_SEC } from './dialplan.js';
import type { DialplanRule, ParkFallback } from './dialplan.js';
import { Scheduler } from './scheduler.js';
import { Originator } from './originate.js';
import { Bridger } from './bridge.js';
import { installApps, schedTasks } from './apps.js';
import type { AppDeps } from './apps.js';
import { ApiCommands } from './api.js';
import { SendmsgQueue } from './sendmsg.js';
import { World } from './world.js';
import { Heartbeat } from './heartbeat.js';
import { EslServer } from './server.js';
import type { ReceivedCommand, Transport } from './connection.js';
import type { EslConnection } from './connection.js';
import { Conferences } from './conference.js';
import { Eavesdrop } from './eavesdrop.js';
import { Intercept } from './intercept.js';
import type { Channel } from './channel.js';

export interface EmulatorOptions {
  /** TCP port for ESL (0 = any free port; undefined with listen:false = no socket) */
  port?: number;
  host?: string;
  password?: string;
  /** 'real' (default), 'virtual', or your own Clock */
  clock?: 'real' | 'virtual' | Clock;
  /** speed-up for the real clock (2 = twice as fast) */
  speed?: number;
  listen?: boolean;
  /** seconds between HEARTBEAT events (stock 20; 0 = none) */
  heartbeatSec?: number;
  /** prompt durations in ms by path or basename (files need not exist) */
  mediaDurations?: Record<string, number>;
  soundDirs?: string[];
  /** dialplan rules; default `defaultRules(parkFallback)` */
  dialplan?: DialplanRule[];
  /**
   * the default dialplan's CTI fallback (freeswitch-conf): `sched_transfer +afterSec cti_fallback XML hotline`
   * before `park` (default 8 s, prompt DEFAULT_BUSY_PROMPT); `false` = plain park, as in the traces' rig
   */
  parkFallback?: ParkFallback | false;
  /** directory users registered at start (default 1001-1005) */
  registeredUsers?: string[];
  /** gateways to the outside world (default ['world']) */
  gateways?: string[];
  holdMusic?: string;
  identity?: Partial<SwitchIdentity>;
}

/** durations of the prompts the golden traces use (README), so tests need no audio files */
export const TRACE_SOUNDS: Record<string, number> = {
  'hello2s.wav': 2000,
  'prompt.wav': 1703,
  'invalid.wav': 1169,
  'moh.wav': 30000,
  'confirm.wav': 2000,
};
/** the default busy prompt of the CTI fallback ("您好，线路繁忙，请稍后再拨"), so the fallback is heard without a file */
export const FALLBACK_SOUNDS: Record<string, number> = { 'busy-zh.wav': 3200 };

export interface ChannelInfo {
  uuid: string;
  name: string;
  direction: string;
  state: string;
  callState: string;
  answerState: string;
  cidNumber: string;
  destination: string;
  partner?: string;
  apps: string[];
  held: boolean;
  conference?: { name: string; memberId: number };
  eavesdrop?: { target: string; mode: string };
}

export class Emulator {
  readonly clock: Clock;
  readonly core: SwitchCore;
  readonly media: MediaLibrary;
  readonly directory: Directory;
  readonly dialplan: Dialplan;
  readonly scheduler: Scheduler;
  readonly originator: Originator;
  readonly bridger: Bridger;
  readonly api: ApiCommands;
  readonly world: World;
  readonly conferences: Conferences;
  readonly eavesdrop: Eavesdrop;
  readonly intercept: Intercept;
  readonly server: EslServer;
  readonly commands: ReceivedCommand[] = [];
  readonly password: string;
  host: string;
  port = 0;
  private readonly heartbeat: Heartbeat;
  private readonly sendmsg: SendmsgQueue;

  constructor(readonly opts: EmulatorOptions = {}) {
    this.clock = opts.clock === 'virtual' ? new VirtualClock() : opts.clock && opts.clock !== 'real' ? opts.clock : new RealClock(opts.speed ?? 1);
    this.password = opts.password ?? 'ClueCon';
    this.host = opts.host ?? '127.0.0.1';
    const core = (this.core = new SwitchCore({ clock: this.clock, identity: opts.identity }));
    if (opts.holdMusic) core.globals.set('hold_music', opts.holdMusic);
    this.media = new MediaLibrary({ ...TRACE_SOUNDS, ...FALLBACK_SOUNDS, ...opts.mediaDurations }, opts.soundDirs);
    // the overlay's vars_hotline.xml values the fallback extension reads
    const fb = opts.parkFallback === false ? {} : (opts.parkFallback ?? {});
    core.globals.set('hotline_park_fallback_seconds', String(fb.afterSec ?? DEFAULT_FALLBACK_SEC));
    core.globals.set('hotline_busy_prompt', fb.prompt ?? DEFAULT_BUSY_PROMPT);
    this.scheduler = new Scheduler(core);
    this.directory = new Directory(core);
    for (const u of opts.registeredUsers ?? ['1001', '1002', '1003', '1004', '1005']) this.directory.register(u, { quiet: true });
    this.dialplan = new Dialplan(core, opts.dialplan ?? defaultRules(opts.parkFallback));
    this.world = new World(core, this.directory);
    for (const g of opts.gateways ?? []) this.world.gateways.add(g);
    this.originator = new Originator(core, this.directory, this.media, this.world);
    const deps: AppDeps = {
      media: this.media,
      talking: (ch) => this.world.legOf(ch.uuid)?.talking() ?? false,
      talkTone: (ch) => this.world.legOf(ch.uuid)?.toneHz ?? 0,
    };
    this.bridger = new Bridger(core, this.originator, deps);
    deps.bridgeApp = (run) => this.bridger.bridgeApp(run);
    this.conferences = new Conferences(core, this.originator, deps);
    this.eavesdrop = new Eavesdrop(core);
    this.intercept = new Intercept(core, this.bridger, this.originator);
    deps.conferenceApp = (run) => this.conferences.app(run);
    deps.eavesdropApp = (run) => this.eavesdrop.app(run);
    deps.interceptApp = (run) => this.intercept.app(run);
    deps.transfer = (ch, dest, dp, ctx) => this.dialplan.transfer(ch, dest, dp || 'XML', ctx || ch.profile.context);
    deps.broadcast = (ch, path, legs) => {
      if (legs !== 'bleg') this.bridger.broadcast(ch, path);
      if (legs !== 'aleg' && ch.partner) this.bridger.broadcast(ch.partner, path);
    };
    deps.scheduler = this.scheduler;
    installApps(core, deps);
    this.api = new ApiCommands({
      core,
      orig: this.originator,
      bridger: this.bridger,
      dialplan: this.dialplan,
      dir: this.directory,
      scheduler: this.scheduler,
      sched: schedTasks(core, deps),
      talkTone: (ch) => {
        const leg = this.world.legOf(ch.uuid);
        return leg && leg.toneHz && leg.talking() ? leg.toneHz : 0;
      },
    });
    this.api.table.set('conference', (a, r) => this.conferences.api(a, r));
    this.sendmsg = new SendmsgQueue(core);
    this.heartbeat = new Heartbeat(core, (opts.heartbeatSec ?? 20) * 1000);
    this.server = new EslServer({
      core,
      api: this.api,
      password: this.password,
      log: (c) => {
        this.commands.push(c);
        if (this.commands.length > 10_000) this.commands.splice(0, 5_000);
      },
      sendmsg: (u, h, b) => this.sendmsg.handle(u, h, b),
    });
  }

  /** start the TCP listener (unless listen:false) */
  async start(): Promise<this> {
    if (this.opts.listen !== false) this.port = await this.server.listen(this.opts.port ?? 0, this.host);
    return this;
  }

  /** an in-process ESL connection (no socket): bytes go to `onData` */
  connect(onData: (s: string) => void, onClose?: () => void): EslConnection {
    const t: Transport = { write: onData, close: () => onClose?.() };
    return this.server.attach(t);
  }

  /** sendmsg <uuid> execute <app> <arg> in-process; returns the command/reply text */
  execute(uuid: string, app: string, arg = '', loops = 1): string {
    const h = new Map<string, string>([
      ['call-command', 'execute'],
      ['execute-app-name', app],
      ['execute-app-arg', arg],
      ['loops', String(loops)],
    ]);
    return this.sendmsg.handle(uuid, h, '');
  }

  /** run an API command in-process (as `api` over ESL); resolves with the body */
  command(line: string): Promise<string> {
    return new Promise((resolve) => this.api.run(line, resolve));
  }

  /** cut every ESL client (for reconnect tests) */
  dropConnections(): void {
    this.server.dropAll();
  }

  /** who is doing what, for assertions */
  channels(): ChannelInfo[] {
    return [...this.core.channels.values()].map((c) => this.describe(c));
  }
  channel(uuid: string): ChannelInfo | undefined {
    const c = this.core.channels.get(uuid);
    return c ? this.describe(c) : undefined;
  }
  private describe(c: Channel): ChannelInfo {
    const conf = this.conferences.memberOf(c);
    const ev = this.eavesdrop.sessionOf(c);
    return {
      uuid: c.uuid,
      name: c.name,
      direction: c.direction,
      state: c.state,
      callState: c.callState,
      answerState: c.answerState,
      cidNumber: c.profile.cidNumber,
      destination: c.profile.destination,
      partner: c.partner?.uuid,
      apps: this.core.appStack(c).map((a) => a.name),
      held: c.held,
      conference: conf,
      eavesdrop: ev,
    };
  }

  async close(): Promise<void> {
    this.heartbeat.stop();
    for (const ch of [...this.core.channels.values()]) this.core.hangup(ch, 'SYSTEM_SHUTDOWN');
    await this.server.close();
    // pending timers (registration expiry, ring timers) must not keep the process alive
    if (this.clock instanceof RealClock) this.clock.clearAll();
  }
}
