// CallControl against the ESL-level FreeSWITCH emulator: a caller bridged to an agent's phone, then each command;
// asserts the ESL commands sent, the bridge / conference / eavesdrop on the switch, what each party hears, and the
// CDR + call_leg_events rows.
import { describe, it, expect, beforeAll, afterAll, beforeEach, afterEach } from 'vitest';
import { randomUUID } from 'node:crypto';
import { eq, asc } from 'drizzle-orm';
import type pg from 'pg';
import { createPool, createDb, type Db } from '../../src/db/client.js';
import { tenants, users } from '../../src/db/schema/core.js';
import { cdrs, callLegEvents } from '../../src/db/schema/calls.js';
import { CallControlError, type Actor } from '../../src/control/index.js';
import { TEST_DATABASE_URL } from '../helpers/env.js';
import { startCti, talkingCall, until, sleep, FakeAcd, type Cti } from './helpers.js';

describe('call control on the FreeSWITCH emulator', () => {
  let pool: pg.Pool;
  let db: Db;
  const tenant = `tctl${Math.random().toString(36).slice(2, 8)}`;
  let agentA: string;
  let agentB: string;
  let supervisor: string;
  let A: Actor;
  let B: Actor;
  let S: Actor;

  beforeAll(async () => {
    pool = createPool(TEST_DATABASE_URL, 4);
    db = createDb(pool);
    await db.insert(tenants).values({ id: tenant, name: '话务控制测试中心' });
    const mk = async (name: string, role: 'agent' | 'supervisor') =>
      (await db.insert(users).values({ tenantId: tenant, loginId: `${tenant}-${name}`, displayName: name, role, passwordHash: 'x' }).returning())[0]!.id;
    agentA = await mk('a', 'agent');
    agentB = await mk('b', 'agent');
    supervisor = await mk('s', 'supervisor');
    A = { userId: agentA, tenantId: tenant, role: 'agent' };
    B = { userId: agentB, tenantId: tenant, role: 'agent' };
    S = { userId: supervisor, tenantId: tenant, role: 'supervisor' };
  });
  afterAll(async () => {
    await pool.end();
  });

  let cti: Cti;
  let acd: FakeAcd;
  beforeEach(async () => {
    acd = new FakeAcd();
    acd.add(agentA, tenant, '1001');
    acd.add(agentB, tenant, '1002');
    cti = await startCti(pool, tenant, { acd, phoneOf: async (id) => (id === supervisor ? '1003' : null) });
  });
  afterEach(async () => {
    await cti.stop();
  });

  const lines = () => cti.emu.emulator.commands.map((c) => c.line);
  const ch = (uuid: string) => cti.emu.emulator.channel(uuid);
  const cdrOf = async (uuid: string) => {
    await until(async () => (await db.select().from(cdrs).where(eq(cdrs.callUuid, uuid))).length === 1, 8000, 'CDR');
    return (await db.select().from(cdrs).where(eq(cdrs.callUuid, uuid)))[0]!;
  };
  const legEventsOf = (uuid: string) => db.select().from(callLegEvents).where(eq(callLegEvents.callUuid, uuid)).orderBy(asc(callLegEvents.seq));

  it('hold plays music to the caller (uuid_hold on the agent leg), retrieve stops it; hold time lands in the CDR', async () => {
    const { caller, session, agentLeg } = await talkingCall(cti, '13800000201', agentA, '1001');
    const r = await cti.control.hold(A);
    expect(r).toEqual({ callUuid: session.uuid, state: 'held' });
    expect(lines()).toContain(`bgapi uuid_hold ${agentLeg}`);
    expect(ch(agentLeg)!.held).toBe(true);
    await until(() => caller.hearing().includes('moh'), 3000, 'caller hears MOH');
    await expect(cti.control.hold(A)).rejects.toMatchObject({ code: 'bad_state' });
    await sleep(700);
    await cti.control.retrieve(A);
    expect(lines()).toContain(`bgapi uuid_hold off ${agentLeg}`);
    expect(session.state).toBe('talking');
    await until(() => !caller.hearing().includes('moh'), 3000, 'MOH stops');
    expect(caller.hearing()).toContain('party');
    caller.hangup();
    const cdr = await cdrOf(session.uuid);
    expect(cdr.holdMs).toBeGreaterThanOrEqual(600);
    expect(cdr.holdMs).toBeLessThan(2000);
    expect(cdr.agentId).toBe(agentA);
    const events = (await legEventsOf(session.uuid)).map((e) => `${e.role}:${e.event}`);
    expect(events).toContain('agent:CHANNEL_HOLD');
    expect(events).toContain('agent:CHANNEL_UNHOLD');
  });

  it('another agent cannot act on the call; an agent without a call gets call_not_found', async () => {
    const { session } = await talkingCall(cti, '13800000202', agentA, '1001');
    await expect(cti.control.hold(B, session.uuid)).rejects.toMatchObject({ code: 'not_your_call', httpStatus: 403 });
    await expect(cti.control.hold(B)).rejects.toBeInstanceOf(CallControlError);
    // a supervisor of the center may
    await cti.control.hold(S, session.uuid);
    expect(session.state).toBe('held');
  });
});
