// One long-lived inbound ESL connection to one FreeSWITCH node, over modesl.
// - commands: bgapi correlated by Job-UUID (the default), api() serialized (never two in flight: node-esl #75),
//   sendmsg/execute with Event-UUID so the CHANNEL_EXECUTE_COMPLETE can be matched by Application-UUID;
// - every command has a timeout and fails with a typed error; pending commands fail fast on disconnect;
// - reconnect with jittered, capped backoff; each connection is a fresh modesl Connection whose listeners are
//   all dropped on teardown (no leak across reconnects);
// - after every (re)connect: `show channels as json`, emitted as 'resync' so the call layer re-adopts live calls;
// - HEARTBEAT feeds health().
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import esl, { type Connection, type Event as ModeslEvent, type FrameHeaders } from 'modesl';
import pino, { type Logger } from 'pino';
import { installModeslGuards, EslFrameError, type FrameReadAt, type ParsedEventFields } from './modesl-guard.js';
import { EslCommandError, EslDisconnectedError, EslTimeoutError, EslAuthError, isErrorReply } from './errors.js';
import { HOTLINE_EVENTS, subscriptionCommand, type ChannelRow, type EslEvent } from './event.js';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { noopEslMetrics, type CommandKind, type CommandOutcome, type EslMetrics } from './metrics.js';
import { LatencyWindow } from './latency-window.js';

installModeslGuards();

export interface EslNodeOptions {
  host: string;
  port: number;
  password: string;
  /** label in logs, metrics and EslEvent.node; default "host:port" */
  name?: string;
  /** default timeout of every command (ms) */
  commandTimeoutMs?: number;
  /** TCP connect + auth + subscribe must finish within this (ms) */
  connectTimeoutMs?: number;
  reconnect?: Partial<BackoffOptions>;
  /** the event subscription; default HOTLINE_EVENTS */
  events?: readonly string[];
  /** fetch `show channels as json` after every (re)connect and emit 'resync'; default true */
  resyncOnConnect?: boolean;
  /** timeout of that fetch; generous, since its reply queues behind the event backlog of a busy switch */
  resyncTimeoutMs?: number;
  /**
   * nothing received for this long (not even a HEARTBEAT) → probe with `bgapi status`; no answer → reconnect.
   * Catches half-open TCP connections (the switch's host died) long before TCP keepalive would. 0 = off.
   */
  livenessTimeoutMs?: number;
  log?: Logger;
  metrics?: EslMetrics;
}

export interface CommandOptions {
  timeoutMs?: number;
}

export interface ExecuteOptions extends CommandOptions {
  /** event-lock: true, so apps on the channel run in the order they were sent (default true) */
  eventLock?: boolean;
  /** use this Application-UUID instead of a random one */
  applicationUuid?: string;
}

export interface EslNodeHealth {
  name: string;
  connected: boolean;
  /** Date.now() of the last HEARTBEAT, null before the first */
  lastHeartbeat: number | null;
  sessions: number | null;
  maxSessions: number | null;
  sessionsPerSecond: number | null;
  /** percent, from HEARTBEAT Idle-CPU */
  idleCpu: number | null;
  uptimeMs: number | null;
  reconnects: number;
  commandsInFlight: number;
  commandLatencyMs: { avg: number | null; p95: number | null; max: number | null };
  eventsTotal: number;
  /** events received during the last complete second */
  eventsPerSecond: number;
  malformedFrames: number;
}

export type EslNodeState = 'idle' | 'connecting' | 'connected' | 'stopped';

interface Pending {
  id: string;
  kind: CommandKind;
  command: string;
  startedAt: number;
  timer: NodeJS.Timeout;
  resolve(value: string): void;
  reject(err: Error): void;
}

interface ExecuteWaiter {
  resolve(ev: EslEvent): void;
  reject(err: Error): void;
  timer?: NodeJS.Timeout;
}

/** When the `show channels` behind a resync was asked for: events received after this may be newer than the rows. */
export interface ResyncInfo {
  /** performance.now() when the request was sent */
  requestedAt: number;
}

export interface EslNodeEvents {
  event: [EslEvent];
  resync: [ChannelRow[], ResyncInfo];
  connected: [];
  disconnected: [Error | null];
  heartbeat: [EslEvent];
  /** a reconnect attempt is scheduled in `delayMs` */
  reconnecting: [number];
  /** instrumentation (bench): a command was written to the socket — text, kind, performance.now(), id (a bgapi's
   * Job-UUID); only emitted when listened to */
  command: [string, CommandKind, number, string];
}

const RECENT_COMPLETES_MAX = 2000;

export class EslNode extends EventEmitter<EslNodeEvents> {
  readonly name: string;
  private readonly opts: Required<Omit<EslNodeOptions, 'name' | 'log' | 'metrics' | 'reconnect'>> & {
    reconnect: BackoffOptions;
  };
  private readonly log: Logger;
  private readonly metrics: EslMetrics;
  private conn: Connection | null = null;
  private sock: Socket | null = null;
  private state: EslNodeState = 'idle';
  private attempt = 0;
  private everConnected = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private connectTimer: NodeJS.Timeout | null = null;
  private readonly pending = new Map<string, Pending>();
  /** api(): one in flight at most; the rest wait here */
  private readonly apiQueue: (() => void)[] = [];
  private apiBusy = false;
  private apiStuckTimer: NodeJS.Timeout | null = null;
  private readonly executeWaiters = new Map<string, ExecuteWaiter>();
  /**
   * CHANNEL_EXECUTE_COMPLETE events of our own executes whose wait has not started yet: a quick app's event can be
   * parsed from the same socket read as the sendmsg reply, before the caller's await resumes.
   */
  private readonly recentCompletes = new Map<string, EslEvent>();
  /**
   * Application-UUIDs of our executes not waited on yet. Only their completes are kept: those of apps the
   * dialplan or other clients run (6-10 KB each on a real switch) used to fill recentCompletes to its cap.
   */
  private readonly unclaimedExecutes = new Set<string>();
  private readonly latency = new LatencyWindow(256);
  private readonly hb: Pick<
    EslNodeHealth,
    'lastHeartbeat' | 'sessions' | 'maxSessions' | 'sessionsPerSecond' | 'idleCpu' | 'uptimeMs'
  > = { lastHeartbeat: null, sessions: null, maxSessions: null, sessionsPerSecond: null, idleCpu: null, uptimeMs: null };
  private reconnects = 0;
  private eventsTotal = 0;
  private eventsThisSecond = 0;
  private eventsLastSecond = 0;
  private currentSecond = Math.floor(performance.now() / 1000);
  private malformedFrames = 0;
  private lastFrameAt = 0;
  private livenessTimer: NodeJS.Timeout | null = null;
  /** the socket corked until the end of this tick, if any */
  private corked: Socket | null = null;
  private probing = false;
  private readyWaiters: { resolve(): void; reject(e: Error): void; timer: NodeJS.Timeout }[] = [];

  constructor(options: EslNodeOptions) {
    super();
    this.name = options.name ?? `${options.host}:${options.port}`;
    this.opts = {
      host: options.host,
      port: options.port,
      password: options.password,
      commandTimeoutMs: options.commandTimeoutMs ?? 5000,
      connectTimeoutMs: options.connectTimeoutMs ?? 5000,
      events: options.events ?? HOTLINE_EVENTS,
      resyncOnConnect: options.resyncOnConnect ?? true,
      resyncTimeoutMs: options.resyncTimeoutMs ?? 30_000,
      livenessTimeoutMs: options.livenessTimeoutMs ?? 60_000,
      reconnect: { ...DEFAULT_BACKOFF, ...options.reconnect },
    };
    this.log = (options.log ?? pino({ level: 'silent' })).child({ esl: this.name });
    this.metrics = options.metrics ?? noopEslMetrics;
  }

  get connectionState(): EslNodeState {
    return this.state;
  }

  get isConnected(): boolean {
    return this.state === 'connected';
  }

  /** Start connecting (and keep reconnecting until stop()). */
  start(): void {
    if (this.state !== 'idle') return;
    this.state = 'connecting';
    this.openConnection();
  }

  /** Resolves once connected (authenticated and subscribed); rejects after timeoutMs. */
  waitConnected(timeoutMs = 10_000): Promise<void> {
    if (this.state === 'connected') return Promise.resolve();
    if (this.state === 'stopped') return Promise.reject(new EslDisconnectedError('wait for connection', this.name));
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.readyWaiters = this.readyWaiters.filter((w) => w !== waiter);
          reject(new EslTimeoutError('connect', timeoutMs, this.name));
        }, timeoutMs),
      };
      this.readyWaiters.push(waiter);
    });
  }

  /** Close for good: no reconnect, pending commands fail with EslDisconnectedError. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const sock = this.sock;
    if (sock && !sock.destroyed && sock.writable) {
      try {
        sock.write('exit\n\n');
      } catch {
        /* closing anyway */
      }
    }
    this.teardown(new EslDisconnectedError('stop', this.name));
    for (const w of this.readyWaiters) {
      clearTimeout(w.timer);
      w.reject(new EslDisconnectedError('wait for connection', this.name));
    }
    this.readyWaiters = [];
  }

  // ---------------------------------------------------------------- commands

  /** `bgapi <command>`: resolves with the BACKGROUND_JOB body; -ERR/-USAGE bodies reject with EslCommandError. */
  bgapi(command: string, opts: CommandOptions = {}): Promise<string> {
    const jobUuid = randomUUID();
    return this.track('bgapi', command, opts.timeoutMs, jobUuid, (conn, pending) => {
      conn.sendRecv(`bgapi ${command}`, { 'Job-UUID': jobUuid }, (reply) => {
        const text = reply.getHeader('Reply-Text') ?? '';
        if (!this.pending.has(pending.id)) return; // timed out or failed meanwhile
        if (isErrorReply(text)) {
          this.settle(pending, new EslCommandError(`bgapi ${command}`, text, this.name));
          return;
        }
        // a switch that ignores our Job-UUID header: follow the one it chose
        const chosen = reply.getHeader('Job-UUID');
        if (chosen && chosen !== pending.id) {
          this.pending.delete(pending.id);
          pending.id = chosen;
          this.pending.set(chosen, pending);
        }
      });
    });
  }

  /**
   * `api <command>` for short read-only queries. Serialized: the switch may answer concurrent api commands out of
   * order, and api/response frames carry no correlation id. A timed-out api keeps the slot until its late reply
   * arrives (or the connection is recycled), so the next api cannot receive the stale reply.
   */
  api(command: string, opts: CommandOptions = {}): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const run = (): void => {
        this.apiBusy = true;
        let replied = false;
        const release = (): void => {
          if (this.apiStuckTimer) clearTimeout(this.apiStuckTimer);
          this.apiStuckTimer = null;
          this.apiBusy = false;
          this.apiQueue.shift()?.();
        };
        this.track('api', command, opts.timeoutMs, randomUUID(), (conn, pending) => {
          const myConn = conn;
          conn.api(command, (evt: ModeslEvent) => {
            replied = true;
            if (this.conn !== myConn) return;
            release();
            if (!this.pending.has(pending.id)) return;
            const body = evt.getBody() ?? '';
            if (isErrorReply(body)) this.settle(pending, new EslCommandError(`api ${command}`, body, this.name));
            else this.settle(pending, null, body);
          });
        }).then(resolve, (err: Error) => {
          reject(err);
          if (replied) return;
          if (err instanceof EslTimeoutError) {
            // keep the slot until the late reply; if it never comes, recycle the connection
            const timeoutMs = opts.timeoutMs ?? this.opts.commandTimeoutMs;
            this.apiStuckTimer = setTimeout(() => {
              this.log.error({ command }, 'api reply never came; recycling the ESL connection');
              this.sock?.destroy();
            }, Math.max(timeoutMs * 2, 30_000));
          } else {
            // disconnected / not sent: the connection is gone, its replies with it
            release();
          }
        });
      };
      if (this.apiBusy) this.apiQueue.push(run);
      else run();
    });
  }

  /** `sendmsg <uuid>` with the given headers; resolves with the command/reply text (+OK...). */
  sendmsg(uuid: string, headers: Record<string, string>, opts: CommandOptions = {}): Promise<string> {
    return this.track('sendmsg', `sendmsg ${uuid}`, opts.timeoutMs, randomUUID(), (conn, pending) => {
      conn.sendRecv(`sendmsg ${uuid}`, headers, (reply) => {
        const text = reply.getHeader('Reply-Text') ?? '';
        if (!this.pending.has(pending.id)) return;
        if (isErrorReply(text)) this.settle(pending, new EslCommandError(`sendmsg ${uuid}`, text, this.name));
        else this.settle(pending, null, text);
      });
    });
  }

  /**
   * Execute a dialplan application on a channel. Resolves with the Application-UUID once the switch accepted the
   * sendmsg; await waitForExecuteComplete(applicationUuid) for the matching CHANNEL_EXECUTE_COMPLETE.
   */
  async execute(uuid: string, app: string, arg = '', opts: ExecuteOptions = {}): Promise<string> {
    const applicationUuid = opts.applicationUuid ?? randomUUID();
    const headers: Record<string, string> = {
      'call-command': 'execute',
      'execute-app-name': app,
      'Event-UUID': applicationUuid,
    };
    if (arg !== '') headers['execute-app-arg'] = arg;
    if (opts.eventLock ?? true) headers['event-lock'] = 'true';
    this.unclaimedExecutes.add(applicationUuid);
    if (this.unclaimedExecutes.size > RECENT_COMPLETES_MAX) this.unclaimedExecutes.delete(this.unclaimedExecutes.values().next().value!);
    try {
      await this.sendmsg(uuid, headers, opts);
    } catch (err) {
      this.unclaimedExecutes.delete(applicationUuid);
      throw err;
    }
    return applicationUuid;
  }

  /**
   * The CHANNEL_EXECUTE_COMPLETE whose Application-UUID is `applicationUuid` (also if it arrived before this call).
   * Rejects with EslDisconnectedError if the connection drops meanwhile, EslTimeoutError after timeoutMs (if given).
   * cancelExecuteWait() drops the wait (e.g. the call hung up and the app will never complete).
   */
  waitForExecuteComplete(applicationUuid: string, opts: { timeoutMs?: number } = {}): Promise<EslEvent> {
    this.unclaimedExecutes.delete(applicationUuid);
    const done = this.recentCompletes.get(applicationUuid);
    if (done) {
      this.recentCompletes.delete(applicationUuid);
      return Promise.resolve(done);
    }
    if (this.state !== 'connected') {
      return Promise.reject(new EslDisconnectedError(`wait for ${applicationUuid}`, this.name));
    }
    return new Promise<EslEvent>((resolve, reject) => {
      const waiter: ExecuteWaiter = { resolve, reject };
      if (opts.timeoutMs) {
        waiter.timer = setTimeout(() => {
          this.executeWaiters.delete(applicationUuid);
          reject(new EslTimeoutError(`execute complete ${applicationUuid}`, opts.timeoutMs!, this.name));
        }, opts.timeoutMs);
      }
      this.executeWaiters.set(applicationUuid, waiter);
    });
  }

  cancelExecuteWait(applicationUuid: string, reason: Error): void {
    const w = this.executeWaiters.get(applicationUuid);
    if (!w) return;
    this.executeWaiters.delete(applicationUuid);
    if (w.timer) clearTimeout(w.timer);
    w.reject(reason);
  }

  /** `show channels as json` rows (read-only api). */
  async showChannels(opts: CommandOptions = {}): Promise<ChannelRow[]> {
    const body = await this.api('show channels as json', opts);
    return parseShowJson(body);
  }

  // ---------------------------------------------------------------- health

  health(): EslNodeHealth {
    this.rollEventSecond(performance.now());
    const lat = this.latency.summary();
    return {
      name: this.name,
      connected: this.state === 'connected',
      ...this.hb,
      reconnects: this.reconnects,
      commandsInFlight: this.pending.size,
      commandLatencyMs: lat,
      eventsTotal: this.eventsTotal,
      eventsPerSecond: this.eventsLastSecond,
      malformedFrames: this.malformedFrames,
    };
  }

  /** Listener counts on what this node owns; a reconnect must leave them unchanged (tests count them). */
  listenerStats(): { node: number; connection: number; socket: number; parser: number; process: number } {
    const count = (e: { eventNames(): (string | symbol)[]; listenerCount(n: string | symbol): number }): number =>
      e.eventNames().reduce((n, name) => n + e.listenerCount(name), 0);
    const conn = this.conn as unknown as { listenersAny?: () => unknown[]; _events?: unknown } | null;
    const sock = this.sock;
    const parser = this.conn?.parser;
    let connection = 0;
    if (this.conn) {
      for (const name of ['error', 'esl::end', 'esl::connect', 'esl::event::auth::request', 'esl::ready']) {
        connection += this.conn.listeners(name).length;
      }
      connection += conn?.listenersAny?.().length ?? 0;
    }
    const processCount = process.eventNames().reduce((n, name) => n + process.listenerCount(name), 0);
    return {
      node: count(this),
      connection,
      socket: sock ? count(sock) : 0,
      parser: parser ? parser.listeners('esl::event').length + parser.listeners('error').length : 0,
      process: processCount,
    };
  }

  // ---------------------------------------------------------------- connection lifecycle

  private openConnection(): void {
    if (this.state === 'stopped') return;
    this.state = 'connecting';
    const conn = new esl.Connection(this.opts.host, this.opts.port, this.opts.password);
    this.conn = conn;
    // our own auth: modesl's would also send its own `event json BACKGROUND_JOB CHANNEL_EXECUTE_COMPLETE`
    conn.auth = () => this.authenticate(conn);
    conn.on('error', (err: Error) => this.onConnError(conn, err));
    // modesl nulls conn.socket on 'end'; keep our own handle to close and count it
    const sock = conn.socket!;
    this.sock = sock;
    sock.on('close', () => this.onClosed(conn, null));
    conn.on('esl::connect', () => {
      sock.setKeepAlive(true, 10_000);
      sock.setNoDelay(true);
      conn.parser?.on('esl::event', (ev: ModeslEvent, headers: FrameHeaders) => this.onFrame(conn, ev, headers));
    });
    this.connectTimer = setTimeout(() => {
      this.log.warn({ timeoutMs: this.opts.connectTimeoutMs }, 'ESL connect/auth timed out');
      this.onClosed(conn, new EslTimeoutError('connect', this.opts.connectTimeoutMs, this.name));
    }, this.opts.connectTimeoutMs);
  }

  private authenticate(conn: Connection): void {
    conn.sendRecv(`auth ${this.opts.password}`, (reply) => {
      if (this.conn !== conn) return;
      const text = reply.getHeader('Reply-Text') ?? '';
      if (!text.startsWith('+OK')) {
        this.log.error({ reply: text }, 'ESL authentication failed (check FREESWITCH_ESL_PASSWORD)');
        this.onClosed(conn, new EslAuthError(`ESL auth to ${this.name} failed: ${text}`));
        return;
      }
      conn.authed = true;
      conn.sendRecv(subscriptionCommand(this.opts.events), (sub) => {
        if (this.conn !== conn) return;
        const subText = sub.getHeader('Reply-Text') ?? '';
        if (!subText.startsWith('+OK')) {
          this.log.error({ reply: subText }, 'ESL event subscription refused');
          this.onClosed(conn, new EslCommandError('event json', subText, this.name));
          return;
        }
        this.onReady(conn);
      });
    });
  }

  private onReady(conn: Connection): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.state = 'connected';
    this.attempt = 0;
    if (this.everConnected) {
      this.reconnects++;
      this.metrics.reconnected(this.name);
      this.log.info({ reconnects: this.reconnects }, 'ESL reconnected');
    } else {
      this.log.info('ESL connected');
    }
    this.everConnected = true;
    this.metrics.connectionUp(this.name, true);
    for (const w of this.readyWaiters) {
      clearTimeout(w.timer);
      w.resolve();
    }
    this.readyWaiters = [];
    this.emit('connected');
    this.startLiveness(conn);
    if (this.opts.resyncOnConnect) void this.resync(conn);
  }

  private async resync(conn: Connection, attempt = 0): Promise<void> {
    try {
      const requestedAt = performance.now();
      const rows = await this.showChannels({ timeoutMs: this.opts.resyncTimeoutMs });
      if (this.conn !== conn) return;
      this.log.info({ channels: rows.length }, 'resync: live channels on the switch');
      this.emitSafely('resync', rows, { requestedAt });
    } catch (err) {
      if (this.conn !== conn) return;
      // the connection itself is still fine (events flow); try again rather than recycle it under load
      const delay = backoffDelay(attempt, this.opts.reconnect);
      this.log.error({ err, retryInMs: delay }, 'resync failed; retrying');
      setTimeout(() => {
        if (this.conn === conn) void this.resync(conn, attempt + 1);
      }, delay).unref();
    }
  }

  private startLiveness(conn: Connection): void {
    const limit = this.opts.livenessTimeoutMs;
    if (limit <= 0) return;
    this.lastFrameAt = performance.now();
    this.livenessTimer = setInterval(() => {
      if (this.conn !== conn || this.probing || performance.now() - this.lastFrameAt < limit) return;
      this.probing = true;
      this.log.warn({ silentMs: Math.round(performance.now() - this.lastFrameAt) }, 'ESL connection silent; probing');
      this.bgapi('status')
        .catch((err: unknown) => {
          if (this.conn === conn && err instanceof EslTimeoutError) {
            this.log.error('ESL probe unanswered; reconnecting');
            this.sock?.destroy();
          }
        })
        .finally(() => {
          this.probing = false;
        });
    }, Math.max(50, Math.floor(limit / 4)));
    this.livenessTimer.unref();
  }

  private onConnError(conn: Connection, err: Error): void {
    if (err instanceof EslFrameError || err instanceof SyntaxError) {
      this.malformedFrames++;
      this.metrics.malformedFrame(this.name);
      this.log.warn({ err: err.message }, 'malformed ESL frame skipped');
      return;
    }
    if (this.conn !== conn) return;
    // 'close' follows every socket error (ECONNREFUSED included) and drives the reconnect
    this.log.warn({ err: err.message }, 'ESL socket error');
  }

  private onClosed(conn: Connection, err: Error | null): void {
    if (this.conn !== conn) return; // an old connection's late close
    const wasConnected = this.state === 'connected';
    this.teardown(err ?? new EslDisconnectedError('connection closed', this.name));
    if (wasConnected) {
      this.log.warn({ err: err?.message }, 'ESL connection lost');
      this.metrics.connectionUp(this.name, false);
      this.emitSafely('disconnected', err);
    }
    this.scheduleReconnect();
  }

  /** Drop the current connection: every listener off, socket destroyed, everything pending failed. */
  private teardown(reason: Error): void {
    const conn = this.conn;
    const sock = this.sock;
    this.conn = null;
    this.sock = null;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    if (this.apiStuckTimer) clearTimeout(this.apiStuckTimer);
    this.apiStuckTimer = null;
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    this.livenessTimer = null;
    if (conn) {
      conn.parser?.removeAllListeners();
      conn.removeAllListeners();
      // modesl's parser listens to the socket with anonymous bound functions: drop them with the socket
      if (sock) {
        sock.removeAllListeners();
        sock.on('error', () => {}); // a late error on a destroyed socket must not become uncaught
        sock.destroy();
      }
      conn.socket = null;
      conn.cmdCallbackQueue.length = 0;
      conn.apiCallbackQueue.length = 0;
    }
    if (this.state !== 'stopped') this.state = 'connecting';
    for (const p of [...this.pending.values()]) {
      this.settle(p, new EslDisconnectedError(p.command, this.name), undefined, 'disconnected');
    }
    // queued api() calls run now and fail fast since there is no connection
    this.apiBusy = false;
    const queued = this.apiQueue.splice(0);
    for (const run of queued) run();
    for (const [id, w] of this.executeWaiters) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(new EslDisconnectedError(`wait for ${id}`, this.name));
    }
    this.executeWaiters.clear();
    this.recentCompletes.clear();
    this.unclaimedExecutes.clear();
  }

  private scheduleReconnect(): void {
    if (this.state === 'stopped' || this.reconnectTimer) return;
    const delay = backoffDelay(this.attempt++, this.opts.reconnect);
    this.emitSafely('reconnecting', delay);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.openConnection();
    }, delay);
  }

  // ---------------------------------------------------------------- frames and events

  private onFrame(conn: Connection, ev: ModeslEvent, headers: FrameHeaders): void {
    if (this.conn !== conn) return;
    this.lastFrameAt = performance.now();
    const contentType = headers['Content-Type'];
    if (contentType === 'text/disconnect-notice') {
      this.log.warn('switch sent disconnect-notice');
      return;
    }
    if (contentType !== 'text/event-json' && contentType !== 'text/event-plain') return;
    // when the frame was read (it may have waited for its turn behind a backlog), not when it is handled
    const receivedAt = (ev as FrameReadAt).readAt ?? performance.now();
    // JSON events: FreeSWITCH sends every value as a string, so the parsed object is the header map as is
    const fields = (ev as Partial<ParsedEventFields>).fields as Record<string, string | undefined> | undefined;
    let h: Record<string, string | undefined>;
    if (fields) h = fields;
    else {
      h = {};
      for (const { name, value } of ev.headers) h[name] = value == null ? undefined : String(value);
    }
    const name = h['Event-Name'];
    if (!name) {
      this.malformedFrames++;
      this.metrics.malformedFrame(this.name);
      this.log.warn('ESL event without Event-Name skipped');
      return;
    }
    const event: EslEvent = {
      name,
      subclass: h['Event-Subclass'],
      uuid: h['Unique-ID'],
      headers: h,
      body: ev.body ?? '',
      receivedAt,
      node: this.name,
    };
    this.countEvent(receivedAt);
    this.metrics.eventReceived(this.name, name === 'CUSTOM' && event.subclass ? event.subclass : name);
    if (name === 'BACKGROUND_JOB') this.onBackgroundJob(event);
    else if (name === 'CHANNEL_EXECUTE_COMPLETE') this.onExecuteComplete(event);
    else if (name === 'HEARTBEAT') this.onHeartbeat(event);
    this.emitSafely('event', event);
  }

  private onBackgroundJob(event: EslEvent): void {
    const jobUuid = event.headers['Job-UUID'];
    const pending = jobUuid ? this.pending.get(jobUuid) : undefined;
    if (!pending) return;
    if (isErrorReply(event.body)) {
      this.settle(pending, new EslCommandError(`bgapi ${pending.command}`, event.body, this.name));
    } else {
      this.settle(pending, null, event.body);
    }
  }

  private onExecuteComplete(event: EslEvent): void {
    const appUuid = event.headers['Application-UUID'];
    if (!appUuid) return;
    const waiter = this.executeWaiters.get(appUuid);
    if (waiter) {
      this.executeWaiters.delete(appUuid);
      if (waiter.timer) clearTimeout(waiter.timer);
      waiter.resolve(event);
      return;
    }
    if (!this.unclaimedExecutes.delete(appUuid)) return;
    this.recentCompletes.set(appUuid, event);
    if (this.recentCompletes.size > RECENT_COMPLETES_MAX) {
      const oldest = this.recentCompletes.keys().next().value;
      if (oldest !== undefined) this.recentCompletes.delete(oldest);
    }
  }

  private onHeartbeat(event: EslEvent): void {
    const num = (k: string): number | null => {
      const v = event.headers[k];
      if (v === undefined || v === '') return null;
      const n = Number(v);
      return Number.isFinite(n) ? n : null;
    };
    this.hb.lastHeartbeat = Date.now();
    this.hb.sessions = num('Session-Count');
    this.hb.maxSessions = num('Max-Sessions');
    this.hb.sessionsPerSecond = num('Session-Per-Sec');
    this.hb.idleCpu = num('Idle-CPU');
    this.hb.uptimeMs = num('Uptime-msec');
    this.emitSafely('heartbeat', event);
  }

  private countEvent(now: number): void {
    this.rollEventSecond(now);
    this.eventsTotal++;
    this.eventsThisSecond++;
  }

  private rollEventSecond(now: number): void {
    const sec = Math.floor(now / 1000);
    if (sec !== this.currentSecond) {
      this.eventsLastSecond = sec === this.currentSecond + 1 ? this.eventsThisSecond : 0;
      this.eventsThisSecond = 0;
      this.currentSecond = sec;
    }
  }

  /** A listener that throws must not break the parser (it would reset the stream) nor other listeners. */
  private emitSafely<K extends keyof EslNodeEvents>(name: K, ...args: EslNodeEvents[K]): void {
    for (const fn of this.listeners(name)) {
      try {
        (fn as (...a: EslNodeEvents[K]) => void)(...args);
      } catch (err) {
        this.log.error({ err, listener: name }, 'ESL event listener threw');
      }
    }
  }

  // ---------------------------------------------------------------- pending command bookkeeping

  private track(
    kind: CommandKind,
    command: string,
    timeoutMs: number | undefined,
    id: string,
    send: (conn: Connection, pending: Pending) => void,
  ): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const conn = this.conn;
      if (this.state !== 'connected' || !conn) {
        this.metrics.commandDone(this.name, kind, 0, 'disconnected');
        reject(new EslDisconnectedError(command, this.name));
        return;
      }
      const ms = timeoutMs ?? this.opts.commandTimeoutMs;
      const pending: Pending = {
        id,
        kind,
        command,
        startedAt: performance.now(),
        resolve,
        reject,
        timer: setTimeout(() => {
          this.log.warn({ command, timeoutMs: ms }, 'ESL command timed out');
          this.settle(pending, new EslTimeoutError(command, ms, this.name), undefined, 'timeout');
        }, ms),
      };
      this.pending.set(id, pending);
      try {
        this.corkUntilTickEnd();
        send(conn, pending);
        // zero-cost unless someone listens (npm run bench measures event → command latency with it)
        if (this.listenerCount('command') > 0) this.emitSafely('command', command, kind, performance.now(), id);
      } catch (err) {
        this.settle(pending, new EslDisconnectedError(command, this.name), undefined, 'disconnected');
        this.log.warn({ err }, 'ESL write failed');
      }
    });
  }

  /** Commands sent within one tick leave in one write (a syscall each was ~5 % of the CTI's CPU at 100 calls/s). */
  private corkUntilTickEnd(): void {
    const sock = this.sock;
    if (!sock || this.corked === sock) return;
    this.corked = sock;
    sock.cork();
    process.nextTick(() => {
      this.corked = null;
      sock.uncork();
    });
  }

  private settle(p: Pending, err: Error | null, value?: string, outcome?: CommandOutcome): void {
    if (this.pending.get(p.id) !== p) return;
    this.pending.delete(p.id);
    clearTimeout(p.timer);
    const ms = performance.now() - p.startedAt;
    const result: CommandOutcome = outcome ?? (err ? 'error' : 'ok');
    if (result === 'ok' || result === 'error') this.latency.add(ms);
    this.metrics.commandDone(this.name, p.kind, ms / 1000, result);
    if (err) p.reject(err);
    else p.resolve(value ?? '');
  }
}

/** Parse a `show ... as json` body; `{"row_count":0}` has no rows key. */
export function parseShowJson(body: string): ChannelRow[] {
  const trimmed = body.trim();
  if (trimmed === '' ) return [];
  const parsed = JSON.parse(trimmed) as { row_count?: number; rows?: ChannelRow[] };
  return parsed.rows ?? [];
}
