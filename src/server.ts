// The composition of one CTI node: every module started in dependency order, wired to the inbound call path, served
// over HTTP, with drain and close hooks. src/main.ts runs it for `npm start`; tests and the demo start it in-process.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { Env } from './config/env.js';
import type { AppContext } from './app-context.js';
import { createPool, createDb, applyMigrations } from './db/client.js';
import { ensureDemoData, type DemoDataResult } from './auth/demo-data.js';
import { EslCluster, type EslNode } from './esl/index.js';
import { directoryCacheFor } from './http/directory-cache.js';
import { startEmulator, type RunningEmulator, type EmulatorOptions } from './sim/index.js';
import { CallTracker, CdrWriter, NodeLiveness } from './calls/index.js';
import { RecordingService, recordAgentAnswer, startRecordingModule } from './recording/index.js';
import { startAcd, EslOfferExecutor, ensureDemoSkillGroups, type AcdService } from './acd/index.js';
import { IvrRuntime } from './ivr/runtime.js';
import type { TtsProvider } from './tts/index.js';
import { buildHttpApp } from './http/app.js';
import { eslMetrics, metrics } from './http/metrics.js';
import type { HealthSource } from './http/health.js';
import { Lifecycle, lifecycle as processLifecycle } from './lifecycle.js';
import { InboundPipeline, CallClaims } from './inbound/index.js';
import { CallControl, CallControlError, AgentLegs, callControlRoutes } from './control/index.js';
import { wsRoutes, CallerDirectory, queueScreenPop, callerIsVip, type AgentCallControl } from './ws/index.js';
import { WsCommandError } from './ws/protocol.js';
import { and, eq } from 'drizzle-orm';
import { users } from './db/schema/core.js';

export interface CtiOverrides {
  log?: Logger;
  /** defaults to the process-wide lifecycle (signals, hotline_draining); tests pass their own */
  lifecycle?: Lifecycle;
  /** extra options for the embedded emulator (FREESWITCH_ESL empty): speed, mediaDurations, parkFallback… */
  emulator?: EmulatorOptions;
  ttsProvider?: TtsProvider;
  /** watch ivr-flows/ for edits (default true) */
  watchFlows?: boolean;
  /** after the caller hangs up, how long the CDR waits for the other legs (ms) */
  legSettleMs?: number;
  /** listen on HOST:PORT (default true) */
  listen?: boolean;
  /** extra routes (e.g. the agent WebSocket when its module lands) */
  routes?: FastifyPluginAsync[];
  /** print the demo credentials created on first start (default true) */
  printCredentials?: boolean;
  /** print the emulator banner on stderr besides the log (default true) */
  banner?: boolean;
}

export interface RunningCti {
  app: FastifyInstance;
  ctx: AppContext;
  cluster: EslCluster;
  tracker: CallTracker;
  acd: AcdService;
  ivr: IvrRuntime;
  recording: RecordingService;
  pipeline: InboundPipeline;
  control: CallControl;
  lifecycle: Lifecycle;
  /** the embedded emulator when FREESWITCH_ESL was empty */
  emulator?: RunningEmulator;
  /** http://host:port once listening */
  url?: string;
  startupMs: number;
  demoData?: DemoDataResult;
  /** drain (no new calls, wait for live ones up to DRAIN_TIMEOUT_MS) then close everything */
  close(): Promise<void>;
}

/** Stable across restarts of the same service (hostname + port), so a restarted node re-adopts its own callers. */
export function defaultNodeId(env: Pick<Env, 'PORT'>): string {
  const host = os.hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 25);
  return `${host}-${env.PORT}`.slice(0, 32);
}

const EMULATOR_BANNER = (where: string) =>
  [
    '',
    '************************************************************************************',
    '*  NO FREESWITCH CONFIGURED: running on the BUILT-IN FREESWITCH EMULATOR            *',
    `*  (ESL on ${where.padEnd(72)}*`.slice(0, 85) + '*',
    '*  No real phone call reaches this CTI. Simulated callers only (npm run demo).      *',
    '*  To carry real calls set FREESWITCH_ESL=host:port[,host:port] and                *',
    '*  FREESWITCH_ESL_PASSWORD (see README "Deploying with FreeSWITCH").                *',
    '************************************************************************************',
  ].join('\n');

export async function startCti(env: Env, overrides: CtiOverrides = {}): Promise<RunningCti> {
  const t0 = performance.now();
  const log = overrides.log ?? pino({ level: env.LOG_LEVEL });
  const lifecycle = overrides.lifecycle ?? processLifecycle;
  const nodeId = env.NODE_ID ?? defaultNodeId(env);
  const closers: { name: string; fn: () => Promise<void> | void }[] = [];
  // until the HTTP app is up, a failure closes what was opened so far (tests must not leak sockets)
  const abort = async (err: unknown): Promise<never> => {
    for (const c of [...closers].reverse()) await Promise.resolve().then(c.fn).catch(() => {});
    throw err;
  };
  const onClose = (name: string, fn: () => Promise<void> | void) => closers.push({ name, fn });

  try {
    // --- the switch (or its emulator)
    let emulator: RunningEmulator | undefined;
    let eslNodes = env.FREESWITCH_ESL.map((n, i) => ({ ...n, name: env.FREESWITCH_ESL.length === 1 ? 'fs1' : `fs${i + 1}` }));
    if (eslNodes.length === 0) {
      emulator = await startEmulator({ port: env.SIM_ESL_PORT, password: env.FREESWITCH_ESL_PASSWORD, ...overrides.emulator });
      const running = emulator;
      onClose('emulator', () => running.close());
      const banner = EMULATOR_BANNER(`${emulator.host}:${emulator.port}`);
      // plain text too: a JSON log line does not show a banner as one
      if (overrides.banner ?? true) process.stderr.write(`${banner}\n`);
      log.warn({ emulator: `${emulator.host}:${emulator.port}` }, banner);
      eslNodes = [{ host: emulator.host, port: emulator.port, name: 'fs1' }];
    } else {
      log.info({ nodes: eslNodes.map((n) => `${n.name}=${n.host}:${n.port}`) }, 'driving FreeSWITCH over ESL');
    }

    // --- storage
    const pool = createPool(env.DATABASE_URL, env.PG_POOL_MAX, { queryTimeoutMs: env.PG_QUERY_TIMEOUT_MS });
    onClose('postgres', () => pool.end());
    await applyMigrations(pool);
    // auto-pipelining: the commands a tick issues (routing scripts, call records, claims) leave in one write, not
    // one syscall each; at 100 calls/s the per-command writes were ~8 % of the CTI's CPU
    const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: 2, enableAutoPipelining: true });
    onClose('redis', () => void redis.disconnect());
    await redis.ping();
    const ctx: AppContext = { env, log, nodeId, pool, db: createDb(pool), redis, redisPrefix: env.REDIS_PREFIX };

    let demoData: DemoDataResult | undefined;
    if (env.SEED_DEMO_DATA) {
      // the credentials are printed once, by the start that created them
      demoData = await ensureDemoData(ctx, { print: overrides.printCredentials ?? true });
      const groups = await ensureDemoSkillGroups(ctx.db, 'demo');
      if (groups.length) log.info({ groups }, 'demo skill groups created');
    }

    // --- ESL
    const cluster = new EslCluster({ nodes: eslNodes, password: env.FREESWITCH_ESL_PASSWORD, commandTimeoutMs: env.ESL_COMMAND_TIMEOUT_MS, log, metrics: eslMetrics });
    onClose('esl', () => cluster.stop());
    if (env.XML_CURL_USER_CACHE_MS > 0) {
      // FreeSWITCH keeps each agent's directory entry (cacheable): a changed user must not wait out the cache.
      // The whole user cache is flushed, rare as edits are: the switch keys entries by the domain it looked up
      // (the tenant for offers, the profile's forced domain for REGISTERs), which the CTI cannot know
      const flush = (node: EslNode): void => {
        node.bgapi('xml_flush_cache').catch((err: unknown) => log.warn({ err: (err as Error).message, node: node.name }, 'switch user cache not flushed'));
      };
      directoryCacheFor(ctx).onChange = () => {
        for (const node of cluster.nodes) if (node.isConnected) flush(node);
      };
      // users may have changed while this node was away (or the database was restored): start from a clean cache
      for (const node of cluster.nodes) node.on('connected', () => flush(node));
    }

    // --- calls, recording, ACD
    const cdr = new CdrWriter({ pool, redisUrl: env.REDIS_URL, prefix: env.REDIS_PREFIX, log });
    onClose('cdr', () => cdr.close());
    const claims = new CallClaims(redis, env.REDIS_PREFIX, nodeId);
    // the pipeline decides claims; it is created before the tracker, which asks it
    let pipeline: InboundPipeline | undefined;
    const tracker = new CallTracker({
      esl: cluster,
      redis,
      redisPrefix: env.REDIS_PREFIX,
      cdr,
      log,
      defaultTenant: env.SIP_DEFAULT_TENANT,
      ctiNode: nodeId,
      claimNewCall: (ev) => pipeline!.claimNewCall(ev),
      // NODE_ID is stable across restarts, so a node re-adopts its own calls and leaves its peers' alone
      adoptOnlyOwnCalls: true,
      ...(overrides.legSettleMs !== undefined ? { legSettleMs: overrides.legSettleMs } : {}),
    });
    onClose('calls', () => tracker.stop());
    // service + compression worker + housekeeping (orphaned RECORD_STOPs, compressions a crash left behind)
    const recordingModule = startRecordingModule(ctx, cluster);
    onClose('recording', () => recordingModule.close());
    const recording = recordingModule.service;
    // one caller directory per node, shared by the queue task (screen pop, VIP) and the agent sockets
    const directory = new CallerDirectory(ctx.db);
    // the caller's record is read while the IVR greets them, not after they chose the queue
    tracker.on('session', (s) => {
      if (s.direction !== 'outbound' && s.callerNumber) directory.prefetch(s.tenantId, s.callerNumber);
    });
    // the screen pop carries the IVR path the caller took (the session knows it; the queue request only its node)
    let ivrPathOf: (uuid: string) => string[] | undefined = () => undefined;
    // agents' phones register under their center's SIP domain (= tenant id; the overlay's hotline-agents profile forces
    // it), not the switch's default domain (its IP): a bare user/1001 finds no registration (USER_NOT_REGISTERED)
    const sipDomain = (tenantId: string) => tenantId;
    const acd = await startAcd(ctx, new EslOfferExecutor(cluster, { sipDomain }), {
      defaultMusic: 'local_stream://moh',
      screenPop: queueScreenPop({ pool, directory }, (uuid) => ivrPathOf(uuid)),
      isVip: callerIsVip(directory),
      onEnqueued: (callUuid, groupId) => tracker.get(callUuid)?.setSkillGroup(groupId),
    });
    onClose('acd', () => acd.close());
    pipeline = new InboundPipeline({
      cluster, tracker, acd, recording, claims, lifecycle, db: ctx.db, log, sipDefaultTenant: env.SIP_DEFAULT_TENANT, defaultHoldMusic: 'local_stream://moh',
    });

    // --- IVR (flows, calendar, blacklist, TTS); its queue node hands callers to the ACD through the pipeline
    const ivr = new IvrRuntime(ctx, {
      queue: pipeline.queueHandler,
      ...(overrides.ttsProvider ? { ttsProvider: overrides.ttsProvider } : {}),
      watch: overrides.watchFlows ?? true,
    });
    await ivr.start();
    onClose('ivr', () => ivr.stop());

    // --- call control (hold, transfer, consult, three-way, monitor, pickup, click-to-call) for REST and the WebSocket
    // every agent leg (hotline_agent=<id>) from the event stream: soft answer, and reserved → ringing
    const agentLegs = new AgentLegs(cluster);
    const control = new CallControl({
      agentLegs,
      esl: cluster,
      tracker,
      log,
      acd: acd.engine,
      recording: (s, leg, agentId) => recordAgentAnswer(recording, s, leg, agentId),
      blacklist: ivr.blacklist,
      gateway: 'hotline-carrier',
      sipDomain,
      centerCallerId: () => '12345',
      commandTimeoutMs: env.ESL_COMMAND_TIMEOUT_MS,
      phoneOf: async (userId, tenantId) =>
        (await ctx.db.select({ ext: users.extension }).from(users).where(and(eq(users.tenantId, tenantId), eq(users.id, userId))).limit(1))[0]?.ext,
    });

    ivrPathOf = (uuid) => {
      const path = tracker.get(uuid)?.ivrPath;
      return path && path.length > 0 ? [...path] : undefined;
    };
    // the agent desktop's soft phone over the WebSocket: the same CallControl commands as REST /calls/answer, /calls/hangup
    const asAgent = (tenantId: string, agentId: string) => ({ userId: agentId, tenantId, role: 'agent' as const });
    const softPhone: AgentCallControl = {
      answer: async ({ tenantId, agentId, callUuid }) => {
        await control.answer(asAgent(tenantId, agentId), callUuid).catch((err: unknown) => {
          if (err instanceof CallControlError && err.code === 'nothing_to_answer') throw new WsCommandError('no_call', undefined, err.message);
          if (err instanceof CallControlError && err.code === 'not_supported') throw new WsCommandError('not_supported');
          throw err;
        });
      },
      hangup: async ({ tenantId, agentId }) => void (await control.hangup(asAgent(tenantId, agentId))),
      onCallState: (listener) => {
        control.on('callState', listener);
        return () => void control.off('callState', listener);
      },
      onScreenPop: (listener) => {
        control.on('screenPop', listener);
        return () => void control.off('screenPop', listener);
      },
    };
    // the agent's phone rings for an ACD offer: reserved → ringing (idempotent: every node sees the event)
    agentLegs.on('ringing', (leg) => {
      if (leg.queueCall) acd.engine.agentRinging(leg.agentId, leg.queueCall).catch((err: unknown) => log.warn({ err, agent: leg.agentId }, 'agent ringing not recorded'));
    });
    // 代答 of a call the ACD is offering: withdraw the offer (the colleague's phone stops, no miss), the picker talks
    control.on('pickedUp', ({ callUuid, agentId }) => {
      acd.engine.callPickedUp(callUuid, agentId).catch((err: unknown) => log.warn({ err, call: callUuid }, 'ACD pickup not recorded'));
    });

    // live calls gauge: cheap, from the tracker's own events
    const liveGauge = () => metrics.liveCalls.set({ node: nodeId }, tracker.size);
    tracker.on('session', liveGauge);
    tracker.on('adopted', liveGauge);
    tracker.on('ended', liveGauge);

    // the tracker listens before the cluster connects, so the first resync (re-adoption) is seen
    tracker.start();
    pipeline.start(ivr);
    onClose('inbound', () => pipeline!.stop());
    control.start();
    agentLegs.start();
    onClose('control', () => {
      control.stop();
      agentLegs.stop();
    });
    cluster.start();
    await cluster.waitConnected(Math.max(5000, env.ESL_COMMAND_TIMEOUT_MS));
    // several nodes on one switch: a peer killed outright has its calls taken over by one survivor (src/calls/node-liveness.ts)
    const liveness = new NodeLiveness({ redis, prefix: env.REDIS_PREFIX, nodeId, log, onNodeDead: (dead) => pipeline!.adoptNode(dead) });
    await liveness.start();
    onClose('liveness', () => liveness.stop({ leave: tracker.size === 0 }));

    // --- HTTP
    const eslHealth: HealthSource[] = cluster.nodes.map((node) => ({
      name: `esl:${node.name}`,
      required: true,
      check: () => {
        const h = node.health();
        return { ok: h.connected, detail: { connected: h.connected, sessions: h.sessions, lastHeartbeat: h.lastHeartbeat, reconnects: h.reconnects, commandLatencyMs: h.commandLatencyMs, eventsPerSecond: h.eventsPerSecond } };
      },
    }));
    const app = await buildHttpApp(ctx, {
      lifecycle,
      routes: [
        ...acd.routes,
        ...ivr.routes(),
        recordingModule.routes,
        callControlRoutes(ctx, { control }),
        wsRoutes(ctx, { engine: acd.engine, callControl: softPhone, directory }),
        ...(overrides.routes ?? []),
      ],
      health: [...eslHealth, ivr.health()],
    });
    onClose('http', () => app.close());
    let url: string | undefined;
    if (overrides.listen ?? true) {
      url = await app.listen({ host: env.HOST, port: env.PORT });
    }

    // --- drain and close: no new calls, live ones finish (bounded by DRAIN_TIMEOUT_MS), then close in reverse order
    lifecycle.onDrainStart(() => {
      tracker.acceptNewCalls = false;
    });
    lifecycle.onDrain('calls', ({ signal }) => tracker.whenEmpty(signal));
    for (const c of closers) lifecycle.onClose(c.name, c.fn);

    const startupMs = Math.round(performance.now() - t0);
    log.info({ nodeId, url, startupMs, eslNodes: cluster.nodes.map((n) => n.name), emulator: emulator !== undefined }, `CTI node started in ${startupMs} ms`);
    return {
      app, ctx, cluster, tracker, acd, ivr, recording, pipeline, control, lifecycle, emulator, url, startupMs, demoData,
      close: () => lifecycle.drainAndClose({ timeoutMs: env.DRAIN_TIMEOUT_MS, log, reason: 'close' }),
    };
  } catch (err) {
    return abort(err);
  }
}
