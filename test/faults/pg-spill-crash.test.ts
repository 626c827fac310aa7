// Fault: a CTI process killed (-9) while draining spilled rows (batches PostgreSQL refused during an outage), at the
// two points where a plain LPOP-then-write loses or doubles them: after taking a batch and before writing it, and
// after writing it and before removing it. The batch waits in the dead writer's processing list; when its lease
// expires another writer moves it back and writes it: every row is stored exactly once.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import { createAgentStateLogWriter } from '../../src/agents/state-log.js';
import { agentStateLog, type AgentStateLogRow } from '../../src/db/schema/index.js';
import { makeTestContext, createTestTenant, type TestContext } from '../http/fixture.js';
import { until } from '../e2e/cti-fixture.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const LEASE_MS = 3000;

let t: TestContext;
let tenantId: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  t = await makeTestContext();
  tenantId = await createTestTenant(t.ctx);
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await t?.close();
});

/** A separate process draining the spill with `crashAt` hanging; resolves once it reached that point. */
async function drainerStoppedAt(crashAt: 'taken' | 'written', prefix: string): Promise<ChildProcess> {
  const code = `(async () => {
    const { Redis } = await import('ioredis');
    const { createPool, createDb } = await import(${JSON.stringify(path.join(ROOT, 'src/db/client.ts'))});
    const { createAgentStateLogWriter } = await import(${JSON.stringify(path.join(ROOT, 'src/agents/state-log.ts'))});
    const redis = new Redis(${JSON.stringify(t.ctx.env.REDIS_URL)});
    const pool = createPool(${JSON.stringify(t.ctx.env.DATABASE_URL)}, 1);
    const stop = () => { process.stdout.write('AT-CRASH-POINT\\n'); return new Promise(() => {}); };
    const writer = createAgentStateLogWriter(createDb(pool), undefined, {
      redis, prefix: ${JSON.stringify(prefix)}, leaseMs: ${LEASE_MS}, hooks: { ${crashAt}: stop },
    });
    await writer.drainSpill();
  })();`;
  // node itself with tsx's loader (not the tsx CLI, which runs node as a grandchild that SIGKILL would miss)
  const child = spawn(process.execPath, ['--import', 'tsx', '--eval', code], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  await until(() => out.includes('AT-CRASH-POINT') || child.exitCode !== null, 30_000, 'child at its crash point');
  if (!out.includes('AT-CRASH-POINT')) throw new Error(`drainer exited early: ${out}`);
  return child;
}

function periods(agentId: string, n: number): AgentStateLogRow[] {
  const t0 = Date.parse('2026-03-02T01:00:00Z');
  return Array.from({ length: n }, (_, i) => ({
    tenantId,
    agentId,
    state: i % 2 ? 'ready' : 'not_ready',
    reason: i % 2 ? null : '小休',
    startedAt: new Date(t0 + i * 60_000),
    endedAt: new Date(t0 + (i + 1) * 60_000),
    durationMs: 60_000,
  })) as AgentStateLogRow[];
}

async function storedRows(agentId: string): Promise<{ total: number; distinct: number }> {
  const [r] = await t.ctx.db
    .select({ total: sql<number>`count(*)::int`, distinct: sql<number>`count(distinct started_at)::int` })
    .from(agentStateLog)
    .where(eq(agentStateLog.agentId, agentId));
  return r!;
}

describe('spill drain killed mid-batch', () => {
  for (const crashAt of ['taken', 'written'] as const) {
    it(`killed after the batch was ${crashAt === 'taken' ? 'taken, before it was written' : 'written, before it was removed'}: written once`, async () => {
      const prefix = `${t.ctx.redisPrefix}:${crashAt}`;
      const spillKey = `${prefix}:spill:agent_state_log`;
      const agentId = randomUUID();
      const rows = periods(agentId, 40);
      // what an earlier outage left: two batches
      await t.ctx.redis.rpush(spillKey, JSON.stringify(rows.slice(0, 25)), JSON.stringify(rows.slice(25)));

      const child = await drainerStoppedAt(crashAt, prefix);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      // the batch in flight is neither in the spill list nor lost: it sits in the dead writer's processing list
      expect(await t.ctx.redis.llen(spillKey)).toBe(1);
      const owners = await t.ctx.redis.smembers(`${spillKey}:owners`);
      expect(owners).toHaveLength(1);
      expect(await t.ctx.redis.llen(`${spillKey}:processing:${owners[0]}`)).toBe(1);
      expect((await storedRows(agentId)).total).toBe(crashAt === 'taken' ? 0 : 25);

      // another node: while the dead writer's lease runs, its batch is left alone; then it is recovered
      const survivor = createAgentStateLogWriter(t.ctx.db, undefined, { redis: t.ctx.redis, prefix, leaseMs: LEASE_MS });
      try {
        expect(await survivor.recoverSpill()).toBe(0);
        await survivor.drainSpill();
        expect((await storedRows(agentId)).total).toBe(crashAt === 'taken' ? 15 : 40);
        const started = Date.now();
        // recovered = moved back to the spill list AND drained from it (for 'written' the rows were all in already)
        await until(async () => (await storedRows(agentId)).total === 40 && (await t.ctx.redis.llen(`${spillKey}:processing:${owners[0]}`)) === 0 && (await t.ctx.redis.llen(spillKey)) === 0, 10_000, 'recovered');
        const recoveredMs = Date.now() - started;
        console.log(`spill crash ${crashAt}: the dead writer's batch written ${recoveredMs} ms after the survivor's first drain (lease ${LEASE_MS} ms)`);
        expect(recoveredMs).toBeLessThan(LEASE_MS + 2000);
        expect(await storedRows(agentId)).toEqual({ total: 40, distinct: 40 });
        expect(await t.ctx.redis.llen(spillKey)).toBe(0);
        expect(await t.ctx.redis.smembers(`${spillKey}:owners`)).toEqual([survivor.spillOwner]);
      } finally {
        await survivor.close(100);
      }
      expect(await t.ctx.redis.exists(`${spillKey}:owners`, `${spillKey}:lease:${survivor.spillOwner}`)).toBe(0);
    }, 60_000);
  }
});
