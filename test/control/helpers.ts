// A CTI (ESL cluster + CallTracker + CDR writer + CallControl) on the FreeSWITCH emulator, and a caller already
// bridged to an agent's phone, for the call-control tests and the bench.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import type pg from 'pg';
import { startEmulator, type RunningEmulator } from '../../src/sim/index.js';
import { EslCluster } from '../../src/esl/index.js';
import { CallTracker, CdrWriter, type CallSession } from '../../src/calls/index.js';
import { CallControl, type AcdForControl, type CallControlOptions, type CommandTiming } from '../../src/control/index.js';
import type { AgentEndpoint, EnqueueRequest, EnqueueResult } from '../../src/acd/types.js';
import { TEST_REDIS_URL, randomPrefix } from '../helpers/env.js';

export const log: Logger = pino({ level: process.env.TEST_LOG ?? 'silent' });
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const until = async (cond: () => boolean | Promise<boolean>, timeoutMs = 8000, what = 'condition'): Promise<void> => {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`${what} not met in time`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** The ACD as call control sees it: agents with endpoints and states; records what the service asked of it. */
export class FakeAcd implements AcdForControl {
  agents = new Map<string, { state: string; tenantId: string; endpoint: AgentEndpoint | null; groups: string[] }>();
  transfers: { tenantId: string; callUuid: string; groupId?: string; agentId?: string; to: string }[] = [];
  ended: { agentId: string; callUuid: string }[] = [];
  enqueued: EnqueueRequest[] = [];
  add(agentId: string, tenantId: string, ext: string, state = 'ready', groups: string[] = []): void {
    this.agents.set(agentId, { state, tenantId, endpoint: { type: 'sip', address: ext }, groups });
  }
  async enqueue(req: EnqueueRequest): Promise<EnqueueResult> {
    this.enqueued.push(req);
    return { status: 'queued', position: 1 };
  }
  recordTransfer(e: { tenantId: string; callUuid: string; groupId?: string; agentId?: string; to: string }): void {
    this.transfers.push(e);
  }
  async agent(agentId: string) {
    return this.agents.get(agentId) ?? null;
  }
  async callEnded(agentId: string, callUuid: string): Promise<void> {
    this.ended.push({ agentId, callUuid });
  }
}

export interface Cti {
  emu: RunningEmulator;
  cluster: EslCluster;
  tracker: CallTracker;
  writer: CdrWriter;
  control: CallControl;
  timings: CommandTiming[];
  redis: Redis;
  prefix: string;
  stop(): Promise<void>;
}

export async function startCti(pool: pg.Pool, tenant: string, extra: Partial<CallControlOptions> = {}, emuOpts: Parameters<typeof startEmulator>[0] = {}): Promise<Cti> {
  const emu = await startEmulator({ heartbeatSec: 0, parkFallback: false, holdMusic: 'local_stream://moh', ...emuOpts });
  const prefix = randomPrefix('ctl');
  const redis = new Redis(TEST_REDIS_URL);
  const cluster = new EslCluster({ nodes: [{ host: emu.host, port: emu.port, name: 'fs1' }], password: emu.password, reconnect: { initialMs: 10, maxMs: 50 }, log });
  const writer = new CdrWriter({ pool, redisUrl: TEST_REDIS_URL, prefix, log, maxRetryDelayMs: 300 });
  const tracker = new CallTracker({ esl: cluster, redis, redisPrefix: prefix, cdr: writer, log, defaultTenant: tenant, ctiNode: 'cti-ctl', legSettleMs: 300 });
  tracker.start();
  cluster.start();
  await cluster.waitConnected(5000);
  const timings: CommandTiming[] = [];
  const control = new CallControl({
    esl: cluster,
    tracker,
    log,
    gateway: 'world',
    centerCallerId: () => '12345',
    onCommand: (t) => timings.push(t),
    ...extra,
  }).start();
  return {
    emu,
    cluster,
    tracker,
    writer,
    control,
    timings,
    redis,
    prefix,
    async stop() {
      control.stop();
      await tracker.stop();
      await cluster.stop();
      await writer.close();
      await emu.close();
      redis.disconnect();
    },
  };
}

export interface TalkingCall {
  caller: ReturnType<RunningEmulator['world']['dial']>;
  session: CallSession;
  agentLeg: string;
}

/** A citizen answered by the CTI and bridged to the agent's phone (as the ACD's EslOfferExecutor does). */
export async function talkingCall(cti: Cti, from: string, agentId: string, ext: string): Promise<TalkingCall> {
  const { emu, tracker, cluster } = cti;
  const phone = emu.world.phone(ext);
  if (!phone.registered) phone.register();
  phone.set({ kind: 'answer', afterMs: 50 });
  const caller = emu.world.dial({ from });
  await until(() => !!caller.uuid && !!tracker.get(caller.uuid), 5000, 'call tracked');
  const session = tracker.get(caller.uuid!)!;
  const node = cluster.nodes[0]!;
  await node.bgapi(`uuid_answer ${session.uuid}`);
  const agentLeg = randomUUID();
  tracker.attachLeg(session, agentLeg, 'agent', { agentId });
  session.setAgent(agentId);
  await node.bgapi(`originate {origination_uuid=${agentLeg},originate_timeout=10,ignore_early_media=true}user/${ext} &park()`, { timeoutMs: 15_000 });
  await node.bgapi(`uuid_bridge ${session.uuid} ${agentLeg}`);
  await until(() => session.state === 'talking' && emu.emulator.channel(session.uuid)?.partner === agentLeg, 5000, 'bridged');
  return { caller, session, agentLeg };
}
