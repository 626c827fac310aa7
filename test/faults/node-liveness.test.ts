// Dead-node detection on its own (src/calls/node-liveness.ts), with several survivors racing: a node that stops
// beating is taken over by exactly one survivor, once; a live node or one that leaves cleanly is never taken over.
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { NodeLiveness } from '../../src/calls/index.js';
import { TEST_REDIS_URL, randomPrefix } from '../helpers/env.js';
import { until } from '../e2e/cti-fixture.js';

const redis = new Redis(TEST_REDIS_URL);
const log = pino({ level: 'silent' });
const started: NodeLiveness[] = [];
afterAll(async () => {
  for (const n of started) await n.stop({ leave: true });
  await redis.quit();
});

function node(prefix: string, nodeId: string, takeovers: string[], opts: { fail?: boolean } = {}): NodeLiveness {
  let failed = false;
  const n = new NodeLiveness({
    redis, prefix, nodeId, log, heartbeatMs: 100, ttlMs: 500,
    onNodeDead: async (dead) => {
      if (opts.fail && !failed) {
        failed = true;
        throw new Error('adoption failed once');
      }
      takeovers.push(`${nodeId}<-${dead}`);
    },
  });
  started.push(n);
  return n;
}

describe('node liveness', () => {
  it('a dead node is taken over by exactly one of four survivors; a clean leave is not a death', async () => {
    const prefix = randomPrefix('live');
    const takeovers: string[] = [];
    const survivors = ['n1', 'n2', 'n3', 'n4'].map((id) => node(prefix, id, takeovers));
    const victim = node(prefix, 'dead', takeovers);
    const leaver = node(prefix, 'leaver', takeovers);
    await Promise.all([...survivors, victim, leaver].map((n) => n.start()));
    await new Promise((r) => setTimeout(r, 700)); // longer than the TTL: live nodes are left alone
    expect(takeovers).toEqual([]);

    await leaver.stop({ leave: true });
    // a kill -9: the beat stops, the key stays until it expires
    const diedAt = Date.now();
    clearInterval((victim as unknown as { timer: NodeJS.Timeout }).timer);
    await until(() => takeovers.length > 0, 5000, 'takeover');
    const delay = Date.now() - diedAt;
    await new Promise((r) => setTimeout(r, 600));
    expect(takeovers).toHaveLength(1);
    expect(takeovers[0]).toMatch(/^n[1-4]<-dead$/);
    expect(delay).toBeGreaterThanOrEqual(400); // not before the TTL ran out
    expect((await redis.smembers(`${prefix}:nodes`)).sort()).toEqual(['n1', 'n2', 'n3', 'n4']);
  });

  it('a failed takeover is retried on a later tick', async () => {
    const prefix = randomPrefix('live');
    const takeovers: string[] = [];
    node(prefix, 'only', takeovers, { fail: true });
    await started.at(-1)!.start();
    // a dead peer: a member whose key is gone
    await redis.sadd(`${prefix}:nodes`, 'ghost');
    await until(() => takeovers.length === 1, 3000, 'retried takeover');
    expect(takeovers).toEqual(['only<-ghost']);
  });
});
