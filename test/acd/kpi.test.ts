import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { testDb, freshTenant } from './db.js';
import { dayKpis } from '../../src/acd/kpi.js';
import { createQueueEventWriter, previousAgentLoader } from '../../src/acd/queue-events.js';
import { startNode, dropPrefix, newPrefix, group, members, ids, loginReady, sleep } from './helpers.js';

const { pool, db } = testDb();
afterAll(async () => {
  await pool.end();
});

describe('KPIs from queue events', () => {
  let tenant: string;
  beforeAll(async () => {
    tenant = await freshTenant(pool);
  });

  it('computes 人工接通率, 20秒接通率 (excluding hang-ups within 20 s), 呼损率, average wait and talk', async () => {
    const g1 = randomUUID();
    const g2 = randomUUID();
    const [a1, a2] = ids(2) as [string, string];
    const day = '2026-05-06';
    const at = (hhmmss: string) => `${day} ${hhmmss}+08`;
    const rows: [string, string, string, string | null, string | null, number | null, number | null, object | null][] = [];
    const ev = (t: string, type: string, call: string, g: string | null, agent: string | null, wait: number | null = null, talk: number | null = null, detail: object | null = null) =>
      rows.push([at(t), type, call, g, agent, wait, talk, detail]);
    // g1: 10 callers asked for an agent
    // 6 answered: 4 within 20 s, 2 after
    for (let i = 0; i < 6; i++) {
      const c = `g1-ans-${i}`;
      const agent = i % 2 ? a2 : a1;
      ev('10:00:00', 'enqueue', c, g1, null);
      ev('10:00:01', 'offer', c, g1, agent, 1000);
      ev('10:00:05', 'answer', c, g1, agent, i < 4 ? 15_000 : 30_000);
      ev('10:05:00', 'complete', c, g1, agent, null, 100_000 + i * 10_000);
    }
    // 2 hung up within 20 s (excluded from the 20 s denominator), 1 after 40 s
    ev('11:00:00', 'enqueue', 'g1-ab-0', g1, null);
    ev('11:00:05', 'abandon', 'g1-ab-0', g1, null, 5_000);
    ev('11:00:00', 'enqueue', 'g1-ab-1', g1, null);
    ev('11:00:19', 'abandon', 'g1-ab-1', g1, null, 19_000);
    ev('11:00:00', 'enqueue', 'g1-ab-2', g1, null);
    ev('11:00:40', 'abandon', 'g1-ab-2', g1, null, 40_000);
    // 1 dropped by the system (overflow to a goodbye prompt): the loss
    ev('12:00:00', 'enqueue', 'g1-lost', g1, null);
    ev('12:01:00', 'overflow', 'g1-lost', g1, null, 60_000, null, { reason: 'max_wait', target: { kind: 'goodbye' } });
    // a missed offer then answered by the next agent
    ev('10:00:01', 'no_answer', 'g1-ans-0', g1, a2, 1000);
    // g2: 1 overflowed in from elsewhere (to voicemail: not a loss) — and one from g2 to g1 is asked in both groups
    ev('13:00:00', 'enqueue', 'g2-vm', g2, null);
    ev('13:02:00', 'overflow', 'g2-vm', g2, null, 120_000, null, { reason: 'max_wait', target: { kind: 'voicemail' } });
    // another day: must not count
    rows.push(['2026-05-05 23:59:59+08', 'enqueue', 'yesterday', g1, null, null, null, null]);
    rows.push(['2026-05-07 00:00:00+08', 'enqueue', 'tomorrow', g1, null, null, null, null]);
    for (const r of rows) {
      await pool.query(
        `insert into queue_events (tenant_id, at, type, call_uuid, group_id, agent_id, wait_ms, talk_ms, detail) values ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
        [tenant, ...r],
      );
    }
    const k = await dayKpis(pool, tenant, day);
    const gk = k.groups.find((g) => g.groupId === g1)!;
    expect(gk).toMatchObject({ asked: 10, answered: 6, answeredWithin20s: 4, abandoned: 3, abandonedWithin20s: 2, overflowed: 1, lost: 1 });
    expect(gk.answerRate).toBeCloseTo(6 / 10);
    expect(gk.serviceLevel20s).toBeCloseTo(4 / (10 - 2));
    expect(gk.systemLossRate).toBeCloseTo(1 / 10);
    expect(gk.averageAnswerWaitMs).toBe(Math.round((4 * 15_000 + 2 * 30_000) / 6));
    expect(gk.averageAbandonWaitMs).toBe(Math.round((5_000 + 19_000 + 40_000) / 3));
    expect(gk.averageTalkMs).toBe(125_000);
    const g2k = k.groups.find((g) => g.groupId === g2)!;
    expect(g2k).toMatchObject({ asked: 1, answered: 0, overflowed: 1, lost: 0 });
    expect(k.total).toMatchObject({ asked: 11, answered: 6, lost: 1 });
    const ak1 = k.agents.find((x) => x.agentId === a1)!;
    const ak2 = k.agents.find((x) => x.agentId === a2)!;
    expect(ak1).toMatchObject({ offered: 3, answered: 3, missed: 0, totalTalkMs: 100_000 + 120_000 + 140_000 });
    expect(ak2).toMatchObject({ offered: 3, answered: 3, missed: 1 });
  });

  it('the engine writes the events the KPIs and the previous-agent map are built from', async () => {
    const prefix = newPrefix();
    const writer = createQueueEventWriter(db);
    const node = await startNode(prefix, 'n1', { queueEvents: writer });
    const a = ids(1) as [string];
    const g = group({ tenantId: tenant, members: members(a) });
    await node.engine.applyGroup(g);
    await loginReady(node.engine, a, tenant);
    const c = { callUuid: randomUUID(), tenantId: tenant, groupId: g.id, callerNumber: '13912345678' };
    await node.engine.enqueue(c);
    const req = await node.executor.nextOffer();
    await sleep(25);
    node.executor.settle(req.callUuid, { outcome: 'answered', agentId: a[0] });
    await node.engine.outcome(c.callUuid);
    await node.engine.callEnded(a[0], c.callUuid, 4321, 0);
    const c2 = { callUuid: randomUUID(), tenantId: tenant, groupId: g.id, callerNumber: '13912340000' };
    await node.engine.enqueue(c2);
    await node.executor.nextOffer((r) => r.callUuid === c2.callUuid);
    await node.engine.abandon(c2.callUuid);
    await writer.close();
    await node.close();
    await dropPrefix(prefix);
    const { rows } = await pool.query<{ type: string; wait_ms: number | null; talk_ms: number | null }>(
      `select type, wait_ms, talk_ms from queue_events where tenant_id = $1 and call_uuid = any($2) order by id`,
      [tenant, [c.callUuid, c2.callUuid]],
    );
    expect(rows.map((r) => r.type)).toEqual(['enqueue', 'offer', 'answer', 'complete', 'enqueue', 'offer', 'abandon']);
    expect(rows[2]!.wait_ms).toBeGreaterThanOrEqual(25);
    expect(rows[3]!.talk_ms).toBe(4321);
    const prev = await previousAgentLoader(pool)(tenant, 7 * 24 * 3600_000);
    expect(prev.find((p) => p.callerNumber === '13912345678')?.agentId).toBe(a[0]);
  });
});
