import { expect } from 'vitest';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import { AcdEngine, type AcdEngineOptions, type AdoptedCall } from '../../src/acd/engine.js';
import type { OfferExecutor, OfferRequest, OfferResult, SkillGroupConfig, SkillGroupMember } from '../../src/acd/types.js';
import { TEST_REDIS_URL, randomPrefix } from '../helpers/env.js';

/** An executor that records offers and lets the test decide each one (or answers by a rule). */
export class FakeExecutor extends EventEmitter implements OfferExecutor {
  offers: OfferRequest[] = [];
  pending = new Map<string, { req: OfferRequest; resolve: (r: OfferResult) => void }>();
  /** set to answer automatically */
  auto: ((req: OfferRequest) => OfferResult | Promise<OfferResult> | null) | null = null;

  offer(req: OfferRequest): Promise<OfferResult> {
    this.offers.push(req);
    return new Promise<OfferResult>((resolve) => {
      this.pending.set(req.callUuid, { req, resolve });
      req.signal.addEventListener('abort', () => {
        this.pending.delete(req.callUuid);
        resolve({ outcome: 'caller_gone' });
      });
      this.emit('offer', req);
      const auto = this.auto?.(req);
      if (auto) {
        void Promise.resolve(auto).then((r) => {
          this.pending.delete(req.callUuid);
          resolve(r);
        });
      }
    });
  }

  settle(callUuid: string, r: OfferResult): void {
    const p = this.pending.get(callUuid);
    if (!p) throw new Error(`no pending offer for ${callUuid}`);
    this.pending.delete(callUuid);
    p.resolve(r);
  }

  /** the next offer (already made or still to come) matching pred */
  nextOffer(pred: (r: OfferRequest) => boolean = () => true, timeoutMs = 3000): Promise<OfferRequest> {
    for (const p of this.pending.values()) if (pred(p.req)) return Promise.resolve(p.req);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.off('offer', on);
        reject(new Error('no offer in time'));
      }, timeoutMs);
      const on = (req: OfferRequest) => {
        if (!pred(req)) return;
        clearTimeout(t);
        this.off('offer', on);
        resolve(req);
      };
      this.on('offer', on);
    });
  }
}

export interface TestNode {
  adopted: AdoptedCall[];
  engine: AcdEngine;
  executor: FakeExecutor;
  redis: Redis;
  sub: Redis;
  close(): Promise<void>;
}

/** tests that pass an executor of their own do not use `node.executor` */
export async function startNode(prefix: string, nodeId = 'n1', extra: Partial<AcdEngineOptions> = {}, executor: OfferExecutor = new FakeExecutor()): Promise<TestNode> {
  const redis = new Redis(TEST_REDIS_URL);
  const sub = new Redis(TEST_REDIS_URL);
  const engine = new AcdEngine({ redis, subscriber: sub, prefix, nodeId, executor, missesBeforeNotReady: 2, ...extra });
  const adopted = await engine.start();
  return {
    adopted,
    engine,
    executor: executor as FakeExecutor,
    redis,
    sub,
    async close() {
      await engine.stop();
      redis.disconnect();
      sub.disconnect();
    },
  };
}

export async function dropPrefix(prefix: string): Promise<void> {
  const r = new Redis(TEST_REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await r.del(...keys);
  } while (cursor !== '0');
  r.disconnect();
}

export function newPrefix(): string {
  return randomPrefix('acd');
}

export const TENANT = 'acdtest';

export function group(overrides: Partial<SkillGroupConfig> & { members: SkillGroupMember[] }): SkillGroupConfig {
  return {
    id: randomUUID(),
    tenantId: TENANT,
    name: 'g-' + randomUUID().slice(0, 6),
    code: null,
    strategy: 'longest_idle',
    priority: 0,
    agingRate: 0,
    vipBoost: 10,
    musicOnHold: null,
    announceIntervalMs: 0,
    maxWaitMs: null,
    overflowOnWait: null,
    maxQueueLength: null,
    overflowOnLength: null,
    noAnswerTimeoutMs: 15_000,
    wrapUpMs: 0,
    previousAgentEnabled: false,
    previousAgentWindowMs: 7 * 24 * 3600 * 1000,
    previousAgentWaitMs: 0,
    ...overrides,
  };
}

export function members(ids: string[], prof: number[] = []): SkillGroupMember[] {
  return ids.map((agentId, i) => ({ agentId, position: i, proficiency: prof[i] ?? 3 }));
}

export function ids(n: number): string[] {
  return Array.from({ length: n }, () => randomUUID());
}

export async function loginReady(engine: AcdEngine, agents: string[], tenant = TENANT, gapMs = 2): Promise<void> {
  for (const [i, a] of agents.entries()) {
    await engine.login(a, tenant, { type: 'sip', address: String(1001 + i) });
    await engine.setReady(a);
    if (gapMs) await sleep(gapMs);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function call(groupId: string, n = 0, extra: Record<string, unknown> = {}) {
  return { callUuid: randomUUID(), tenantId: TENANT, groupId, callerNumber: `1380000${String(n).padStart(4, '0')}`, ...extra };
}

/** An executor like a switch busy with the originate: an abort does not end the offer, only `settle` does. */
export class SlowOriginateExecutor implements OfferExecutor {
  offers: { req: OfferRequest; at: number }[] = [];
  releaseLeg?: (callUuid: string, legUuid: string) => Promise<void>;
  private readonly pending = new Map<string, (r: OfferResult) => void>();

  offer(req: OfferRequest): Promise<OfferResult> {
    this.offers.push({ req, at: Date.now() });
    return new Promise((resolve) => this.pending.set(req.callUuid, resolve));
  }

  settle(callUuid: string, r: OfferResult): void {
    const resolve = this.pending.get(callUuid);
    if (!resolve) throw new Error(`no pending offer for ${callUuid}`);
    this.pending.delete(callUuid);
    resolve(r);
  }

  offersTo(agentId: string): OfferRequest[] {
    return this.offers.map((o) => o.req).filter((r) => [r.agent, ...r.alsoRing].some((a) => a.agentId === agentId));
  }

  async nextOfferOf(callUuid: string, timeoutMs = 3000): Promise<{ req: OfferRequest; at: number }> {
    for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(10)) {
      const o = this.offers.find((x) => x.req.callUuid === callUuid);
      if (o) return o;
    }
    throw new Error(`no offer of ${callUuid} in time`);
  }
}

export async function stateBecomes(node: TestNode, agentId: string, state: string, timeoutMs = 2000): Promise<void> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(10)) {
    if ((await node.engine.agent(agentId))?.state === state) return;
  }
  expect((await node.engine.agent(agentId))?.state).toBe(state);
}
