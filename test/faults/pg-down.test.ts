// Fault: PostgreSQL down for 60 s (FAULT_PG_DOWN_MS for quick local runs) under load, on the real composition with a
// private PostgreSQL. Calls keep arriving, being queued, offered, answered and ended (some callers give up while
// queued); their CDRs, the agents' state periods and the queue events wait in Redis and are written exactly once after
// the database returns: exact row counts per call UUID, no duplicates.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimCaller } from '../../src/sim/index.js';
import { PgInstance } from '../helpers/pg-instance.js';
import { createPool } from '../../src/db/client.js';
import { prepareE2eTenant, startTestCti, agentReady, until, sleep, hasHeard, type E2eTenant, type StartedCti } from '../e2e/cti-fixture.js';
import { makeTestContext, createTestUser, login, type TestUser } from '../http/fixture.js';

const DOWN_MS = Number(process.env.FAULT_PG_DOWN_MS) > 0 ? Number(process.env.FAULT_PG_DOWN_MS) : 60_000;

let pg: PgInstance;
let e: E2eTenant;
let cti: StartedCti | undefined;
let admin: TestUser;
let pgStopped = false;

beforeAll(async () => {
  pg = await PgInstance.create();
  e = await prepareE2eTenant({ agentCount: 4, databaseUrl: pg.url });
  const t = await makeTestContext({ DATABASE_URL: pg.url });
  try {
    admin = await createTestUser(t.ctx, e.tenant, 'admin');
  } finally {
    await t.close();
  }
}, 60_000);
afterAll(async () => {
  if (pgStopped) await pg.start();
  await cti?.close();
  await e?.close();
  await pg?.destroy();
});

describe(`PostgreSQL down for ${DOWN_MS / 1000} s under load`, () => {
  it('keeps taking calls and writes every CDR, state period and queue event exactly once afterwards', async () => {
    cti = await startTestCti(e, { env: { DATABASE_URL: pg.url, DRAIN_TIMEOUT_MS: '0' } });
    const emu = cti.emulator!;
    for (const a of e.agents) emu.world.phone(a.extension!).set({ kind: 'answer', afterMs: 100 });
    for (const a of e.agents) await agentReady(cti.app, a);
    // wrap-up short enough that agents cycle during the outage
    const engine = cti.acd.engine;
    const talking = (c: SimCaller) => cti!.tracker.get(c.uuid!)?.state === 'talking';

    const adminSession = await login(cti.app, admin.loginId, admin.password);
    await pg.stop();
    pgStopped = true;
    const downAt = Date.now();
    // people and admin tools get a clear 503 at once instead of a hang or a 500
    const refusals = [
      cti.app.inject({ method: 'POST', url: '/auth/login', payload: { loginId: e.agents[0]!.loginId, password: e.agents[0]!.password } }),
      cti.app.inject({ method: 'GET', url: '/admin/users', headers: adminSession.bearer }),
    ].map(async (req) => {
      const t0 = Date.now();
      const res = await req;
      return { status: res.statusCode, error: (res.json() as { error?: string }).error, retryAfter: res.headers['retry-after'], ms: Date.now() - t0 };
    });
    const answeredCalls: SimCaller[] = [];
    const abandonedCalls: SimCaller[] = [];
    const runs: Promise<void>[] = [];
    let n = 0;
    // a caller every ~1.5 s: IVR, key 1, queue, agent (or gives up when no agent comes in 3 s), talk 1 s, hang up
    while (Date.now() - downAt < DOWN_MS - 8000) {
      const from = `139${String(10_000_000 + n++).slice(-8)}`;
      runs.push(
        (async () => {
          const c = emu.world.dial({ from, to: '12345' });
          await until(() => hasHeard(c, 'main-menu.wav'), 15_000, `menu ${from}`);
          c.press('1');
          try {
            await until(() => talking(c), 3000, `talking ${from}`);
            answeredCalls.push(c);
            await sleep(1000);
          } catch {
            abandonedCalls.push(c);
          }
          c.hangup();
        })(),
      );
      await sleep(1500);
    }
    await Promise.all(runs);
    const refused = await Promise.all(refusals);
    console.log(`[pg-down] REST during the outage: ${JSON.stringify(refused)}`);
    for (const r of refused) {
      expect(r).toMatchObject({ status: 503, error: 'database_unavailable', retryAfter: '5' });
      expect(r.ms).toBeLessThan(5000);
    }
    await until(() => cti!.tracker.size === 0, 15_000, 'every call ended');
    const stillDown = Date.now() - downAt < DOWN_MS;
    const all = [...answeredCalls, ...abandonedCalls].map((c) => c.uuid!);
    const agentsOf = new Map<string, number>();
    console.log(`[pg-down] during the outage: ${all.length} calls, ${answeredCalls.length} answered, ${abandonedCalls.length} abandoned in queue`);
    expect(stillDown).toBe(true);
    // each agent takes calls throughout the outage (a 10 s wrap-up between them)
    expect(answeredCalls.length).toBeGreaterThanOrEqual(e.agents.length * Math.max(1, Math.floor((DOWN_MS - 8000) / 20_000)));
    await sleep(Math.max(0, DOWN_MS - (Date.now() - downAt)));

    // the database comes back: everything buffered goes in
    await pg.start();
    pgStopped = false;
    const upAt = Date.now();
    const check = createPool(pg.url, 2);
    try {
      const count = async (sql: string, params: unknown[]) => (await check.query<{ n: number }>(sql, params)).rows[0]!.n;
      await until(async () => (await count('select count(*)::int n from cdrs where call_uuid = any($1)', [all])) === all.length, 30_000, 'CDRs written');
      await until(
        async () => (await count(`select count(*)::int n from queue_events where call_uuid = any($1) and type = 'enqueue'`, [all])) === all.length,
        30_000,
        'queue events written',
      );
      const flushedMs = Date.now() - upAt;
      await sleep(3000); // nothing may come in twice later (retries, spill drains)

      const perCall = await check.query<{ call_uuid: string; cdrs: number; enq: number; ans: number; aband: number }>(
        `select c.call_uuid, (select count(*)::int from cdrs x where x.call_uuid = c.call_uuid) cdrs,
                count(q.*) filter (where q.type = 'enqueue')::int enq, count(q.*) filter (where q.type = 'answer')::int ans,
                count(q.*) filter (where q.type = 'abandon')::int aband
           from unnest($1::text[]) c(call_uuid) left join queue_events q on q.call_uuid = c.call_uuid group by c.call_uuid`,
        [all],
      );
      const byUuid = new Map(perCall.rows.map((r) => [r.call_uuid, r]));
      for (const c of answeredCalls) expect(byUuid.get(c.uuid!)).toMatchObject({ cdrs: 1, enq: 1, ans: 1, aband: 0 });
      // a caller who gave up at the 3 s mark may have been answered in the same instant: either outcome, exactly once
      let lastMomentAnswers = 0;
      for (const c of abandonedCalls) {
        const row = byUuid.get(c.uuid!)!;
        expect(row).toMatchObject({ cdrs: 1, enq: 1 });
        expect([row.ans, row.aband].sort()).toEqual([0, 1]);
        lastMomentAnswers += row.ans;
      }
      const cdrAgents = await check.query<{ agent_id: string; n: number }>(
        'select agent_id, count(*)::int n from cdrs where call_uuid = any($1) and agent_id is not null group by agent_id',
        [all],
      );
      for (const r of cdrAgents.rows) agentsOf.set(r.agent_id, r.n);
      expect([...agentsOf.values()].reduce((x, y) => x + y, 0)).toBe(answeredCalls.length + lastMomentAnswers);

      // agent state periods: every talking period of the outage logged once (a call's talk ends in wrap-up), also
      // the talks of callers answered in the instant they gave up
      const talkingPeriods = () =>
        count(`select count(*)::int n from agent_state_log where tenant_id = $1 and state = 'talking' and started_at >= $2`, [e.tenant, new Date(downAt)]);
      await until(async () => (await talkingPeriods()) === answeredCalls.length + lastMomentAnswers, 30_000, 'talking periods written').catch(async (err: Error) => {
        throw new Error(`${err.message}: ${await talkingPeriods()} of ${answeredCalls.length} + ${lastMomentAnswers} answered as they gave up`);
      });
      const dup = await check.query<{ n: number }>(
        `select count(*)::int n from (select agent_id, state, started_at from agent_state_log where tenant_id = $1
           group by agent_id, state, started_at having count(*) > 1) d`,
        [e.tenant],
      );
      expect(dup.rows[0]!.n).toBe(0);
      for (const [agentId, calls] of agentsOf) {
        expect(await count(`select count(*)::int n from agent_state_log where agent_id = $1 and state = 'talking' and started_at >= $2`, [agentId, new Date(downAt)])).toBe(calls);
      }
      // every answered call was recorded: the switch was told to, and its row went in once the database was back
      // (finalized from the WAV, then possibly compressed already)
      await until(
        async () => (await count(`select count(*)::int n from recordings where call_uuid = any($1) and status in ('stopped', 'compressed')`, [all])) === answeredCalls.length,
        30_000,
        'recording rows written and finalized',
      ).catch(async (err: Error) => {
        const statuses = await check.query('select status, count(*)::int n from recordings where call_uuid = any($1) group by status', [all]);
        throw new Error(`${err.message}: ${JSON.stringify(statuses.rows)} of ${answeredCalls.length}`);
      });
      const recs = await check.query<{ call_uuid: string; n: number; cdr_linked: number }>(
        `select r.call_uuid, count(*)::int n, count(*) filter (where c.recording_id = r.id::text)::int cdr_linked
           from recordings r left join cdrs c on c.call_uuid = r.call_uuid where r.call_uuid = any($1) group by r.call_uuid`,
        [all],
      );
      expect(recs.rows.map((r) => r.call_uuid).sort()).toEqual(answeredCalls.map((c) => c.uuid!).sort());
      for (const r of recs.rows) expect(r).toMatchObject({ n: 1, cdr_linked: 1 });
      const rows = {
        recordings: recs.rows.length,
        cdrs: await count('select count(*)::int n from cdrs where call_uuid = any($1)', [all]),
        queueEvents: await count('select count(*)::int n from queue_events where call_uuid = any($1)', [all]),
        stateLog: await count('select count(*)::int n from agent_state_log where tenant_id = $1 and ended_at >= $2', [e.tenant, new Date(downAt)]),
      };
      console.log(`[pg-down] ${JSON.stringify({ downMs: DOWN_MS, calls: all.length, answered: answeredCalls.length, abandoned: abandonedCalls.length, flushedMs, rows })}`);
      expect((await engine.agent(e.agents[0]!.id))?.state).toBeDefined();
    } finally {
      await check.end();
    }
  }, 150_000);
});
