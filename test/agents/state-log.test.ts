import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDb, freshTenant } from '../acd/db.js';
import { startNode, dropPrefix, newPrefix, group, members, ids, sleep } from '../acd/helpers.js';
import { createAgentStateLogWriter, stateTotalsForDay, upsertCurrentStates } from '../../src/agents/state-log.js';
import { canTransition } from '../../src/agents/states.js';

const { pool, db } = testDb();
afterAll(async () => {
  await pool.end();
});

describe('agent state machine', () => {
  it('allows only the defined transitions', () => {
    expect(canTransition('logged_out', 'not_ready')).toBe(true);
    expect(canTransition('logged_out', 'ready')).toBe(false);
    expect(canTransition('ready', 'talking')).toBe(false);
    expect(canTransition('talking', 'wrap_up')).toBe(true);
    expect(canTransition('wrap_up', 'ready')).toBe(true);
  });
});

describe('agent state log', () => {
  let tenant: string;
  beforeAll(async () => {
    tenant = await freshTenant(pool);
  });

  it('logs every finished period with its duration; not-ready time totals by reason', async () => {
    const prefix = newPrefix();
    const writer = createAgentStateLogWriter(db);
    const node = await startNode(prefix, 'n1', { stateLog: writer });
    const [a] = ids(1) as [string];
    const g = group({ tenantId: tenant, members: members([a]), wrapUpMs: 120 });
    await node.engine.applyGroup(g);
    await node.engine.login(a, tenant, { type: 'sip', address: '1001' });
    await sleep(60);
    await node.engine.setNotReady(a, '小休');
    await sleep(150);
    await node.engine.setReady(a);
    await sleep(40);
    await node.engine.setNotReady(a, '就餐');
    await sleep(80);
    await node.engine.setNotReady(a, '小休');
    await sleep(50);
    await node.engine.setReady(a);
    const c = { callUuid: ids(1)[0]!, tenantId: tenant, groupId: g.id, callerNumber: '13800000001' };
    await node.engine.enqueue(c);
    const req = await node.executor.nextOffer();
    await sleep(30);
    node.executor.settle(req.callUuid, { outcome: 'answered', agentId: a });
    await node.engine.outcome(c.callUuid);
    await sleep(100);
    await node.engine.callEnded(a, c.callUuid, 100);
    for (let i = 0; i < 200 && (await node.engine.agent(a))?.state !== 'ready'; i++) await sleep(10); // wrap-up 120 ms
    await node.engine.logout(a);
    await writer.close();
    await node.close();
    await dropPrefix(prefix);

    const { rows } = await pool.query<{ state: string; reason: string | null; duration_ms: string; started_at: Date; ended_at: Date }>(
      `select state, reason, duration_ms, started_at, ended_at from agent_state_log where tenant_id = $1 and agent_id = $2 order by started_at, id`,
      [tenant, a],
    );
    expect(rows.map((r) => `${r.state}:${r.reason ?? ''}`)).toEqual([
      'not_ready:',
      'not_ready:小休',
      'ready:',
      'not_ready:就餐',
      'not_ready:小休',
      'ready:',
      'reserved:',
      'talking:',
      'wrap_up:',
      'ready:',
    ]);
    for (const r of rows) expect(Number(r.duration_ms)).toBe(r.ended_at.getTime() - r.started_at.getTime());
    const dur = (i: number) => Number(rows[i]!.duration_ms);
    expect(dur(1)).toBeGreaterThanOrEqual(150);
    expect(dur(1)).toBeLessThan(1000);
    expect(dur(3)).toBeGreaterThanOrEqual(80);
    // wrap-up held 120 ms (plus event-loop jitter on a loaded machine), not rounded to seconds
    expect(dur(8)).toBeGreaterThanOrEqual(120);
    expect(dur(8)).toBeLessThan(1000);
    // consecutive periods touch: each ends where the next starts
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.started_at.getTime()).toBe(rows[i - 1]!.ended_at.getTime());

    const day = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10);
    const totals = await stateTotalsForDay(pool, tenant, day, { agentId: a, state: 'not_ready' });
    const byReason = Object.fromEntries(totals.map((t) => [t.reason, t]));
    expect(byReason['小休']!.periods).toBe(2);
    expect(byReason['小休']!.totalMs).toBe(dur(1) + dur(4));
    expect(byReason['就餐']!.totalMs).toBe(dur(3));
  });

  it('clips periods crossing midnight to the day asked for', async () => {
    const a = ids(1)[0]!;
    // 23:30 → 00:45 Beijing time (UTC+8) on 2026-03-01/02
    await pool.query(
      `insert into agent_state_log (tenant_id, agent_id, state, reason, started_at, ended_at, duration_ms)
       values ($1, $2, 'not_ready', '会议', '2026-03-01 23:30:00+08', '2026-03-02 00:45:00+08', 4500000)`,
      [tenant, a],
    );
    const d1 = await stateTotalsForDay(pool, tenant, '2026-03-01', { agentId: a });
    const d2 = await stateTotalsForDay(pool, tenant, '2026-03-02', { agentId: a });
    expect(d1[0]!.totalMs).toBe(30 * 60_000);
    expect(d2[0]!.totalMs).toBe(45 * 60_000);
  });
});

describe('agent current state upsert', () => {
  let tenant: string;
  beforeAll(async () => {
    tenant = await freshTenant(pool);
  });

  it('an older update loses to the stored state; endpoint fields an update leaves out are kept', async () => {
    const prefix = newPrefix();
    const [a] = ids(1) as [string];
    const at = (ms: number) => new Date(Date.UTC(2026, 11, 7, 8, 0, 0, ms));
    await upsertCurrentStates(db, [{ redisPrefix: prefix, agentId: a, tenantId: tenant, state: 'ready', since: at(500), endpointType: 'sip', endpointAddress: '1001', autoAnswer: true }]);
    // another node's batch that landed late: older state, must not overwrite
    await upsertCurrentStates(db, [{ redisPrefix: prefix, agentId: a, tenantId: tenant, state: 'not_ready', reason: '小休', since: at(100) }]);
    const read = async () => (await pool.query('select state, reason, since, call_uuid, endpoint_type, endpoint_address, auto_answer from agent_current_state where redis_prefix = $1 and agent_id = $2', [prefix, a])).rows[0];
    expect(await read()).toMatchObject({ state: 'ready', reason: null, since: at(500), endpoint_type: 'sip', endpoint_address: '1001', auto_answer: true });
    // a newer state wins with its whole state (call included); an endpoint-only change keeps state and start
    await upsertCurrentStates(db, [{ redisPrefix: prefix, agentId: a, tenantId: tenant, state: 'talking', since: at(900), callUuid: 'c-1', ownerNode: 'n1' }]);
    await upsertCurrentStates(db, [{ redisPrefix: prefix, agentId: a, tenantId: tenant, since: at(950), endpointType: 'mobile', endpointAddress: '13800000009' }]);
    expect(await read()).toMatchObject({ state: 'talking', since: at(900), call_uuid: 'c-1', endpoint_type: 'mobile', endpoint_address: '13800000009', auto_answer: true });
    // two updates of one agent in one batch become one row (PostgreSQL updates a row once per statement)
    await upsertCurrentStates(db, [
      { redisPrefix: prefix, agentId: a, tenantId: tenant, state: 'wrap_up', since: at(1000) },
      { redisPrefix: prefix, agentId: a, tenantId: tenant, state: 'not_ready', reason: '就餐', since: at(1100) },
    ]);
    expect(await read()).toMatchObject({ state: 'not_ready', reason: '就餐', since: at(1100), call_uuid: null, endpoint_type: 'mobile' });
  });
});
