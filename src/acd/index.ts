// The ACD as main.ts composes it: engine + batched PostgreSQL writers + group sync + routes + the IVR queue task.
import { Redis } from 'ioredis';
import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../app-context.js';
import { AcdEngine, type AcdEngineOptions } from './engine.js';
import { createQueueEventWriter, previousAgentLoader } from './queue-events.js';
import { createAgentStateLogWriter, loadSignedInAgents, type AgentStateRecord } from '../agents/state-log.js';
import { listAllGroups, groupRefResolver, resolveEndpoint } from './groups.js';
import { acdRoutes } from './routes.js';
import { agentRoutes } from '../agents/routes.js';
import { createQueueHandler, type QueueTaskOptions } from './queue-task.js';
import type { OfferExecutor } from './types.js';
import type { QueueHandler } from '../ivr/engine.js';
import type { AdoptedCall } from './engine.js';

export * from './types.js';
export { AcdEngine } from './engine.js';
export type { AcdEngineOptions, AdoptedCall, AgentSnapshot, GroupStats, PreviousAgentRecord } from './engine.js';
export { createQueueHandler } from './queue-task.js';
export { EslOfferExecutor, offerResultForCause } from './esl-offer-executor.js';
export type { EslOfferExecutorOptions, BgapiNode, SwitchLocator } from './esl-offer-executor.js';
export { ensureDemoSkillGroups } from './demo-seed.js';
export { groupRefResolver } from './groups.js';
export { estimateWaitMs, queueAnnouncement } from './estimate.js';
export { dayKpis } from './kpi.js';

export interface AcdService {
  engine: AcdEngine;
  routes: FastifyPluginAsync[];
  queueHandler: QueueHandler;
  /** callers this node had waiting before a restart; the call layer re-attaches them or calls engine.abandon */
  adopted: AdoptedCall[];
  /** stop routing on this node (waiting callers stay in Redis) and flush the PostgreSQL buffers */
  close(): Promise<void>;
}

export async function startAcd(
  ctx: AppContext,
  executor: OfferExecutor,
  opts: Partial<Pick<AcdEngineOptions, 'missesBeforeNotReady' | 'offerGuardMs'>> & Omit<QueueTaskOptions, 'engine'> = {},
): Promise<AcdService> {
  const log = ctx.log.child({ mod: 'acd' });
  const spill = { redis: ctx.redis, prefix: `${ctx.redisPrefix}:acd` };
  const queueEvents = createQueueEventWriter(ctx.db, log, spill);
  const stateLog = createAgentStateLogWriter(ctx.db, log, spill);
  // rows an earlier run could not write (database outage) go in now
  void queueEvents.drainSpill().catch(() => {});
  void stateLog.drainSpill().catch(() => {});
  const subscriber = new Redis(ctx.env.REDIS_URL, { lazyConnect: false });
  // while Redis is away ioredis reconnects on its own; without a listener each failed attempt is an unhandled error
  subscriber.on('error', (err) => log.debug({ err }, 'acd subscriber connection error'));
  // no auto-pipelining here: see AcdEngineOptions.routingRedis
  const routingRedis = new Redis(ctx.env.REDIS_URL, { maxRetriesPerRequest: 2, enableAutoPipelining: false, connectionName: 'acd-routing' });
  routingRedis.on('error', (err) => log.debug({ err }, 'acd routing connection error'));
  const engine = new AcdEngine({
    redis: ctx.redis,
    routingRedis,
    subscriber,
    prefix: `${ctx.redisPrefix}:acd`,
    nodeId: ctx.nodeId,
    executor,
    log,
    queueEvents,
    // one writer, one batch: ended periods and current states
    stateLog: { push: (row) => stateLog.push(row) },
    currentState: { push: (update) => stateLog.push({ kind: 'current', ...update } satisfies AgentStateRecord) },
    loadCurrentStates: () => loadSignedInAgents(ctx.db, `${ctx.redisPrefix}:acd`),
    loadPreviousAgents: previousAgentLoader(ctx.pool),
    // after Redis lost its data (restart without persistence), routing is rebuilt from these and the node's calls
    loadGroups: () => listAllGroups(ctx.db),
    loadEndpoint: (tenantId, agentId) => resolveEndpoint(ctx.db, tenantId, agentId),
    ...(opts.missesBeforeNotReady !== undefined ? { missesBeforeNotReady: opts.missesBeforeNotReady } : {}),
    ...(opts.offerGuardMs !== undefined ? { offerGuardMs: opts.offerGuardMs } : {}),
  });
  engine.on('error', (err) => log.error({ err }, 'acd engine error'));
  const adopted = await engine.start();
  // PostgreSQL is the source of the configuration; Redis follows it on every start
  const groups = await listAllGroups(ctx.db);
  for (const g of groups) await engine.applyGroup(g);
  return {
    engine,
    adopted,
    routes: [acdRoutes(ctx, { engine }), agentRoutes(ctx, { engine })],
    queueHandler: createQueueHandler({ resolveGroup: groupRefResolver(ctx.db, groups), ...opts, engine }),
    async close() {
      await engine.stop();
      subscriber.disconnect();
      routingRedis.disconnect();
      await Promise.all([queueEvents.close(), stateLog.close()]);
    },
  };
}
