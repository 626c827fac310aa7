// ACD decision latency: from the triggering call into the engine (a caller enqueued, an agent turning ready or
// finishing a call) to OfferExecutor.offer being called — i.e. the point where the originate would be written.
// Load: 1,000 agents in 10 skill groups (each agent in 2), 2,000 callers waiting, 100 new calls/s, talk 5-15 s.
// Run: npx tsx bench/acd.ts   (REDIS_URL, default redis://127.0.0.1:6379/0; keys under a random prefix, removed after)
import { randomUUID, randomBytes } from 'node:crypto';
import { performance, monitorEventLoopDelay } from 'node:perf_hooks';
import { loadavg } from 'node:os';
import { Redis } from 'ioredis';
import { AcdEngine } from '../src/acd/engine.js';
import type { OfferExecutor, OfferRequest, OfferResult, SkillGroupConfig } from '../src/acd/types.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const AGENTS = Number(process.env.BENCH_AGENTS ?? 1000);
const WAITING = Number(process.env.BENCH_WAITING ?? 2000);
const RATE = Number(process.env.BENCH_CALLS_PER_S ?? 100);
const STEADY_S = Number(process.env.BENCH_SECONDS ?? 20);
const GROUPS = 10;
const TENANT = 'bench';

const prefix = `bench:acd:${randomBytes(4).toString('hex')}`;
const triggers = new Map<string, number>();
let samples: number[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rnd = (a: number, b: number) => a + Math.random() * (b - a);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}
function report(name: string, xs: number[]): void {
  const f = (v: number) => v.toFixed(3);
  console.log(`${name.padEnd(44)} n=${String(xs.length).padStart(5)}  p50 ${f(pct(xs, 50))} ms  p99 ${f(pct(xs, 99))} ms  max ${f(Math.max(...xs))} ms`);
}

let engine!: AcdEngine;
const talking = new Map<string, string>(); // agent → call
const timers = new Set<NodeJS.Timeout>();
function later(ms: number, fn: () => void): void {
  const t = setTimeout(() => {
    timers.delete(t);
    fn();
  }, ms);
  timers.add(t);
}
/** time a trigger; its key is dropped once the call into the engine returns (offers are made before it does) */
async function timed(key: string, fn: () => Promise<unknown>): Promise<void> {
  triggers.set(key, performance.now());
  try {
    await fn();
  } finally {
    triggers.delete(key);
  }
}

const executor: OfferExecutor = {
  offer(req: OfferRequest): Promise<OfferResult> {
    const t1 = performance.now();
    const t0 = triggers.get(`c:${req.callUuid}`) ?? triggers.get(`a:${req.agent.agentId}`);
    if (t0 !== undefined) samples.push(t1 - t0);
    triggers.delete(`c:${req.callUuid}`);
    triggers.delete(`a:${req.agent.agentId}`);
    const agentId = req.agent.agentId;
    // the agent answers after a short ring, talks 5-15 s, then the call ends with no wrap-up
    return new Promise((resolve) => {
      later(200, () => {
        resolve({ outcome: 'answered', agentId });
        talking.set(agentId, req.callUuid);
        later(rnd(5000, 15000), () => {
          talking.delete(agentId);
          void timed(`a:${agentId}`, () => engine.callEnded(agentId, req.callUuid, 10_000, 0));
        });
      });
    });
  },
};

async function main(): Promise<void> {
  const redis = new Redis(REDIS_URL);
  const sub = new Redis(REDIS_URL);
  engine = new AcdEngine({ redis, subscriber: sub, prefix, nodeId: 'bench', executor });
  await engine.start();
  const agents = Array.from({ length: AGENTS }, () => randomUUID());
  const groups: SkillGroupConfig[] = Array.from({ length: GROUPS }, (_, i) => ({
    id: randomUUID(), tenantId: TENANT, name: `g${i}`, code: null, strategy: i % 2 ? 'round_robin' : 'longest_idle', priority: 0, agingRate: 0.5,
    vipBoost: 10, musicOnHold: null, announceIntervalMs: 0, maxWaitMs: null, overflowOnWait: null, maxQueueLength: null,
    overflowOnLength: null, noAnswerTimeoutMs: 20_000, wrapUpMs: 0, previousAgentEnabled: false, previousAgentWindowMs: 0,
    previousAgentWaitMs: 0,
    // each agent in two groups
    members: agents.flatMap((agentId, j) => (j % GROUPS === i || (j + 3) % GROUPS === i ? [{ agentId, position: j, proficiency: 1 + (j % 5) }] : [])),
  }));
  for (const g of groups) await engine.applyGroup(g);
  for (const [i, a] of agents.entries()) await engine.login(a, TENANT, { type: 'sip', address: String(10000 + i) });

  // what the machine adds: event-loop delay of this process, and Redis's own time per script
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  await redis.config('RESETSTAT');
  let n = 0;
  const enqueueOne = async () => {
    const callUuid = randomUUID();
    const g = groups[n++ % GROUPS]!;
    await timed(`c:${callUuid}`, () =>
      engine.enqueue({ callUuid, tenantId: TENANT, groupId: g.id, callerNumber: `138${String(n).padStart(8, '0')}`, priority: n % 3 }),
    );
  };

  // 1. idle, one at a time: agents ready, then single callers → pure decision latency on the enqueue path
  for (let i = 0; i < 500; i++) await engine.setReady(agents[i]!);
  samples = [];
  for (let i = 0; i < 500; i++) {
    await enqueueOne();
    await sleep(1);
  }
  await sleep(300);
  report('enqueue → offer (idle, agents ready)', samples);

  // 2. 2,000 callers waiting; the other 500 agents turn ready one by one → agent-ready path
  for (let i = 0; i < WAITING; i++) {
    const callUuid = randomUUID();
    const g = groups[n++ % GROUPS]!;
    await engine.enqueue({ callUuid, tenantId: TENANT, groupId: g.id, callerNumber: `139${String(n).padStart(8, '0')}`, priority: n % 3 });
  }
  samples = [];
  const mem0 = process.memoryUsage().heapUsed;
  for (let i = 500; i < AGENTS; i++) {
    await timed(`a:${agents[i]!}`, () => engine.setReady(agents[i]!));
    await sleep(2);
  }
  await sleep(300);
  report(`agent ready → offer (${WAITING} waiting)`, samples);

  // 3. steady state: 100 new calls/s on top of the queue, agents freeing up after their talk time
  samples = [];
  const stopAt = Date.now() + STEADY_S * 1000;
  const interval = 1000 / RATE;
  let next = performance.now();
  while (Date.now() < stopAt) {
    void enqueueOne();
    next += interval;
    const wait = next - performance.now();
    if (wait > 0) await sleep(wait);
  }
  report(`steady ${RATE} calls/s, ${AGENTS} agents (mixed)`, samples);
  const stats = await Promise.all(groups.map((g) => engine.groupStats(g.id)));
  console.log(`waiting at end: ${stats.reduce((s, x) => s + x.waiting, 0)}, agents talking: ${talking.size}, heap delta ${((process.memoryUsage().heapUsed - mem0) / 1e6).toFixed(1)} MB`);

  loop.disable();
  const evalsha = /cmdstat_evalsha:calls=(\d+),usec=\d+,usec_per_call=([\d.]+)/.exec(String(await redis.info('commandstats')));
  console.log(
    `event-loop delay p50 ${(loop.percentile(50) / 1e6).toFixed(2)} ms p99 ${(loop.percentile(99) / 1e6).toFixed(2)} ms max ${(loop.max / 1e6).toFixed(1)} ms; ` +
      `Redis time per script ${evalsha?.[2] ?? '?'} µs (${evalsha?.[1] ?? '?'} scripts); load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} on the machine`,
  );
  for (const t of timers) clearTimeout(t);
  await engine.stop();
  let cursor = '0';
  do {
    const [c, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = c;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
  redis.disconnect();
  sub.disconnect();
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
