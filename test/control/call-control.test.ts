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
import { BlacklistService } from '../../src/blacklist/index.js';
import { Redis } from 'ioredis';
import { TEST_DATABASE_URL, TEST_REDIS_URL, randomPrefix } from '../helpers/env.js';
import { EslOfferExecutor } from '../../src/acd/index.js';
import { startNode, dropPrefix, group, members } from '../acd/helpers.js';
import { startCti, talkingCall, until, sleep, log, FakeAcd, type Cti } from './helpers.js';

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

  it('blind transfer to another agent: their phone is originated and bridged to the caller, the old agent leg hangs up, the screen pop carries the attached data', async () => {
    const { caller, session, agentLeg } = await talkingCall(cti, '13800000203', agentA, '1001');
    session.markIvrNode('menu');
    session.markIvrNode('consult');
    cti.emu.world.phone('1002').set({ kind: 'answer', afterMs: 100 });
    const pops: unknown[] = [];
    cti.control.on('screenPop', (p) => pops.push(p));
    const r = await cti.control.blindTransfer(A, { kind: 'agent', agentId: agentB }, { ticketDraft: { title: '噪音扰民', content: '小区夜间施工' } });
    const newLeg = r.legUuid!;
    const originate = lines().find((l) => l.startsWith('bgapi originate') && l.includes(`origination_uuid=${newLeg}`))!;
    expect(originate).toMatch(/user\/1002 &park\(\)$/);
    expect(originate).toContain('origination_caller_id_number=13800000203');
    expect(lines()).toContain(`bgapi uuid_bridge ${session.uuid} ${newLeg}`);
    await until(() => ch(session.uuid)?.partner === newLeg, 3000, 'caller bridged to agent B');
    await until(() => !ch(agentLeg), 3000, 'old agent leg gone');
    expect(session.agentId).toBe(agentB);
    expect(pops).toEqual([
      { agentId: agentB, callUuid: session.uuid, tenantId: tenant, data: expect.objectContaining({ callerNumber: '13800000203', ivrPath: ['menu', 'consult'], ticketDraft: { title: '噪音扰民', content: '小区夜间施工' } }) },
    ]);
    expect(cti.control.attachedData(session.uuid)).toMatchObject({ transferredBy: agentA });
    expect(acd.transfers).toEqual([expect.objectContaining({ callUuid: session.uuid, agentId: agentA, to: `agent:${agentB}` })]);
    expect(acd.ended.map((e) => e.agentId)).toEqual([agentA]);
    expect(caller.hearing()).toContain('party');
    caller.hangup();
    const cdr = await cdrOf(session.uuid);
    expect(cdr).toMatchObject({ agentId: agentB, hangupSide: 'caller' });
    expect(JSON.parse(cdr.variables.attached_data!)).toMatchObject({ ticketDraft: { title: '噪音扰民' } });
    const ev = await legEventsOf(session.uuid);
    expect(ev.some((e) => e.legUuid === agentLeg && e.event === 'CHANNEL_HANGUP')).toBe(true);
    expect(ev.some((e) => e.legUuid === newLeg && e.role === 'agent' && e.event === 'CHANNEL_ANSWER')).toBe(true);
  });

  it('blind transfer to a busy agent is refused before anything is sent', async () => {
    await talkingCall(cti, '13800000204', agentA, '1001');
    acd.agents.get(agentB)!.state = 'reserved';
    const before = lines().length;
    await expect(cti.control.blindTransfer(A, { kind: 'agent', agentId: agentB })).rejects.toMatchObject({ code: 'agent_unavailable' });
    expect(lines().length).toBe(before);
  });

  it('blind transfer to a skill group parks the caller and re-queues it with its original arrival and a front priority', async () => {
    const { session, agentLeg } = await talkingCall(cti, '13800000205', agentA, '1001');
    session.times.queueEnterAt = Date.now() - 42_000;
    const groupId = randomUUID();
    await cti.control.blindTransfer(A, { kind: 'group', groupId }, { note: '需要专业解答' });
    expect(lines()).toContain(`bgapi uuid_transfer ${session.uuid} park inline`);
    await until(() => !ch(agentLeg), 3000, 'agent leg gone');
    await until(() => !!ch(session.uuid)?.apps.includes('park'), 3000, 'caller parked');
    expect(session.state).toBe('queued');
    expect(acd.enqueued).toEqual([
      expect.objectContaining({ callUuid: session.uuid, groupId, arrivalMs: session.times.queueEnterAt, priority: 1000, screenPop: expect.objectContaining({ note: '需要专业解答' }) }),
    ]);
    expect(acd.ended).toEqual([{ agentId: agentA, callUuid: session.uuid }]);
  });

  it('blind transfer to 110 goes out through the carrier gateway with the center caller id', async () => {
    const { caller, session, agentLeg } = await talkingCall(cti, '13800000206', agentA, '1001');
    const police = cti.emu.world.number('110').set({ kind: 'answer', afterMs: 100 });
    const r = await cti.control.blindTransfer(A, { kind: 'number', number: '110' });
    expect(r.to).toBe('number:110');
    const originate = lines().find((l) => l.includes(`origination_uuid=${r.legUuid}`))!;
    expect(originate).toMatch(/origination_caller_id_number=12345\}sofia\/gateway\/world\/110 &park\(\)$/);
    await until(() => ch(session.uuid)?.partner === r.legUuid, 3000, 'bridged to 110');
    await until(() => !ch(agentLeg), 3000);
    expect(police.current()).toBeTruthy();
    caller.hangup();
    const cdr = await cdrOf(session.uuid);
    expect(cdr.agentId).toBeNull();
    const ev = await legEventsOf(session.uuid);
    expect(ev.some((e) => e.legUuid === r.legUuid && e.role === 'third-party' && e.event === 'CHANNEL_ANSWER')).toBe(true);
  });

  it('attended transfer: consult (caller hears music, agent talks to the target), cancel back to the caller, consult again and complete', async () => {
    const { caller, session, agentLeg } = await talkingCall(cti, '13800000207', agentA, '1001');
    cti.emu.world.phone('1002').set({ kind: 'answer', afterMs: 100 });
    const c1 = await cti.control.consult(A, { kind: 'agent', agentId: agentB });
    await until(() => ch(agentLeg)?.partner === c1.consultLeg, 3000, 'agent ↔ consult');
    expect(session.state).toBe('held');
    await until(() => caller.hearing().includes('moh'), 3000, 'caller hears MOH');
    expect(ch(session.uuid)?.partner).toBeUndefined();
    expect(lines()).toContain(`bgapi uuid_bridge ${agentLeg} ${c1.consultLeg}`);
    await sleep(300);

    await cti.control.cancelConsult(A);
    expect(lines()).toContain(`bgapi uuid_kill ${c1.consultLeg} NORMAL_CLEARING`);
    await until(() => ch(session.uuid)?.partner === agentLeg, 3000, 'caller back with agent');
    await until(() => !ch(c1.consultLeg), 3000);
    expect(session.state).toBe('talking');
    await until(() => !caller.hearing().includes('moh'), 3000);

    cti.emu.world.phone('1002').set({ kind: 'answer', afterMs: 100 });
    const c2 = await cti.control.consult(A, { kind: 'agent', agentId: agentB });
    await until(() => ch(agentLeg)?.partner === c2.consultLeg, 3000);
    await cti.control.completeConsult(A, { note: '已说明情况' });
    await until(() => ch(session.uuid)?.partner === c2.consultLeg, 3000, 'caller ↔ target');
    await until(() => !ch(agentLeg), 3000, 'agent released');
    expect(session.state).toBe('talking');
    expect(session.agentId).toBe(agentB);
    expect(caller.hearing()).toContain('party');
    caller.hangup();
    const cdr = await cdrOf(session.uuid);
    expect(cdr.agentId).toBe(agentB);
    expect(cdr.holdMs).toBeGreaterThan(200);
    expect(cdr.hangupSide).toBe('caller');
    const ev = await legEventsOf(session.uuid);
    expect(ev.filter((e) => e.legUuid === c1.consultLeg && e.event === 'CHANNEL_HANGUP')).toHaveLength(1);
    expect(ev.some((e) => e.legUuid === c2.consultLeg && e.role === 'agent')).toBe(true);
  });

  it('three-way: caller and agent move into a conference, the expert is dialled in; the agent leaves and the other two keep talking', async () => {
    const { caller, session, agentLeg } = await talkingCall(cti, '13800000208', agentA, '1001');
    const expert = cti.emu.world.number('13900000000').set({ kind: 'answer', afterMs: 100 });
    const r = await cti.control.threeWay(A, { kind: 'number', number: '13900000000' });
    const conf = r.conference;
    expect(lines()).toContain(`bgapi uuid_transfer ${session.uuid} -both conference:${conf} inline`);
    expect(lines().some((l) => l.includes(`origination_uuid=${r.expertLeg}`) && l.endsWith(`sofia/gateway/world/13900000000 &conference(${conf})`))).toBe(true);
    const short = conf.replace(/@.*/, '');
    await until(() => [session.uuid, agentLeg, r.expertLeg!].every((u) => ch(u)?.conference?.name === short), 3000, 'three members');
    expect(session.state).toBe('conferenced');
    await sleep(300);
    await cti.control.leaveThreeWay(A);
    expect(lines().some((l) => new RegExp(`^bgapi conference ${short} kick \\d+$`).test(l))).toBe(true);
    await until(() => !ch(agentLeg), 3000, 'agent gone');
    await sleep(500);
    expect(ch(session.uuid)?.conference?.name).toBe(short);
    expect(ch(r.expertLeg!)?.conference?.name).toBe(short);
    expect(caller.hearing()).toContain('conference');
    expect(expert.current()?.ended).toBeFalsy();
    caller.hangup();
    await until(() => !ch(r.expertLeg!), 3000, 'expert released after the caller');
    const cdr = await cdrOf(session.uuid);
    expect(cdr.hangupSide).toBe('caller');
    const ev = await legEventsOf(session.uuid);
    const leave = ev.find((e) => e.event === 'CONFERENCE_LEAVE')!;
    expect(leave).toMatchObject({ legUuid: agentLeg, role: 'agent' });
    const agentHangup = ev.find((e) => e.legUuid === agentLeg && e.event === 'CHANNEL_HANGUP')!;
    const callerHangup = ev.find((e) => e.legUuid === session.uuid && e.event === 'CHANNEL_HANGUP')!;
    expect(agentHangup.at.getTime()).toBeLessThan(callerHangup.at.getTime() - 300);
    expect(ev.some((e) => e.legUuid === r.expertLeg && e.role === 'third-party' && e.event === 'CHANNEL_HANGUP')).toBe(true);
  });

  /** uuid_recv_dtmf (the key queued on the supervisor's channel as if pressed: eavesdrop reads it) is not in the emulator */
  function emulateRecvDtmf(): void {
    const emu = cti.emu.emulator;
    emu.api.table.set('uuid_recv_dtmf', (args, reply) => {
      const [u, digits] = args.split(/\s+/);
      const c = emu.core.channels.get(u ?? '');
      if (!c) return reply('-ERR no such channel\n');
      for (const d of digits ?? '') emu.core.dtmf(c, d);
      reply('+OK\n');
    });
  }

  it('monitor → whisper → barge → listen: eavesdrop on the agent leg, modes by DTMF on the supervisor leg; the whisper is heard by the agent only', async () => {
    emulateRecvDtmf();
    const { caller, session, agentLeg } = await talkingCall(cti, '13800000209', agentA, '1001');
    const agentPhone = cti.emu.world.phone('1001').current()!;
    const supPhone = cti.emu.world.phone('1003').set({ kind: 'answer', afterMs: 100 });
    await expect(cti.control.monitor(A, session.uuid)).rejects.toMatchObject({ code: 'not_your_call' });
    const m = await cti.control.monitor(S, session.uuid);
    const spy = m.monitorId;
    const originate = lines().find((l) => l.includes(`origination_uuid=${spy}`))!;
    expect(originate).toContain('eavesdrop_enable_dtmf=true');
    expect(originate).toMatch(new RegExp(`user/1003 &eavesdrop\\(${agentLeg}\\)$`));
    await until(() => ch(spy)?.eavesdrop?.target === agentLeg, 3000, 'eavesdropping');
    expect(ch(spy)!.eavesdrop!.mode).toBe('listen');
    expect(supPhone.current()!.hearing()).toContain('eavesdrop');
    // the world names the whisperer by its number: the supervisor's phone 1003
    const whisperOf = (h: string) => h.includes('whisper:1003');
    expect(whisperOf(agentPhone.hearing())).toBe(false);

    await cti.control.setMonitorMode(S, spy, 'whisper');
    expect(lines()).toContain(`bgapi uuid_recv_dtmf ${spy} 2`);
    await until(() => ch(spy)?.eavesdrop?.mode === 'whisper-target', 3000, 'whisper');
    expect(whisperOf(agentPhone.hearing())).toBe(true);
    expect(whisperOf(caller.hearing())).toBe(false);

    await cti.control.setMonitorMode(S, spy, 'barge');
    expect(lines()).toContain(`bgapi uuid_recv_dtmf ${spy} 3`);
    await until(() => ch(spy)?.eavesdrop?.mode === 'barge', 3000, 'barge');
    expect(whisperOf(agentPhone.hearing())).toBe(true);
    expect(whisperOf(caller.hearing())).toBe(true);

    await cti.control.setMonitorMode(S, spy, 'listen');
    expect(lines()).toContain(`bgapi uuid_recv_dtmf ${spy} 0`);
    await until(() => ch(spy)?.eavesdrop?.mode === 'listen', 3000, 'listen');
    expect(whisperOf(agentPhone.hearing())).toBe(false);
    expect(whisperOf(caller.hearing())).toBe(false);
    // the caller heard the supervisor only once barged, the agent since the whisper
    const callerWhisper = caller.heard.filter((h) => whisperOf(h.what));
    const agentWhisper = agentPhone.heard.filter((h) => whisperOf(h.what));
    expect(callerWhisper).toHaveLength(1);
    expect(callerWhisper[0]!.from).toBeGreaterThan(agentWhisper[0]!.from); // only from the barge on

    caller.hangup();
    await until(() => !ch(spy), 3000, 'supervisor leg ends with the call');
    const cdr = await cdrOf(session.uuid);
    const ev = await legEventsOf(session.uuid);
    expect(ev.filter((e) => e.legUuid === spy && e.event === 'MONITOR_MODE').map((e) => (e.details as { mode: string }).mode)).toEqual(['whisper', 'barge', 'listen']);
    expect(ev.find((e) => e.legUuid === spy)!.role).toBe('supervisor');
    expect(cdr.agentId).toBe(agentA);
  });

  it('pickup: an agent of the group intercepts the caller ringing at a colleague; the ringing leg ends PICKED_OFF', async () => {
    const groupId = randomUUID();
    acd.agents.get(agentB)!.groups = [groupId];
    cti.emu.world.phone('1001').set({ kind: 'noanswer' });
    cti.emu.world.phone('1002').set({ kind: 'answer', afterMs: 100 });
    const caller = cti.emu.world.dial({ from: '13800000210' });
    await until(() => !!caller.uuid && !!cti.tracker.get(caller.uuid), 5000);
    const session = cti.tracker.get(caller.uuid!)!;
    const node = cti.cluster.nodes[0]!;
    await node.bgapi(`uuid_answer ${session.uuid}`);
    session.setSkillGroup(groupId);
    session.transition('offering', 'ringing agent 1001');
    await node.execute(session.uuid, 'bridge', '{originate_timeout=30}user/1001');
    await until(() => !!cti.emu.world.phone('1001').current(), 3000, '1001 rings');
    const ringing = cti.emu.world.phone('1001').current()!;
    const r = await cti.control.pickup(B);
    expect(r.callUuid).toBe(session.uuid);
    const originate = lines().find((l) => l.includes(`origination_uuid=${r.legUuid}`))!;
    expect(originate).toMatch(new RegExp(`user/1002 '&intercept\\(${session.uuid}\\)'$`));
    await until(() => ch(session.uuid)?.partner === r.legUuid, 3000, 'caller ↔ picker');
    await until(() => !!ringing.ended, 3000);
    expect(ringing.endCause).toBe('PICKED_OFF');
    expect(session.state).toBe('talking');
    expect(session.agentId).toBe(agentB);
    caller.hangup();
    const cdr = await cdrOf(session.uuid);
    expect(cdr.agentId).toBe(agentB);
    expect(cdr.agentAnswerAt).not.toBeNull();
  });

  it('pickup outside the agent’s groups is refused', async () => {
    const caller = cti.emu.world.dial({ from: '13800000211' });
    await until(() => !!caller.uuid && !!cti.tracker.get(caller.uuid), 5000);
    const session = cti.tracker.get(caller.uuid!)!;
    session.setSkillGroup(randomUUID());
    session.transition('offering');
    await expect(cti.control.pickup(B, session.uuid)).rejects.toMatchObject({ code: 'not_your_call' });
  });

  it('click-to-call: the agent phone rings first, then the citizen with the center caller id; outbound session, recording hook and CDR', async () => {
    const recorded: { call: string; leg: string; agent?: string }[] = [];
    await cti.stop();
    cti = await startCti(pool, tenant, { acd, recording: async (s, leg, agent) => (recorded.push({ call: s.uuid, leg, agent }), 'rec-1') });
    cti.emu.world.phone('1001').set({ kind: 'answer', afterMs: 100 });
    const citizen = cti.emu.world.number('13800000002').set({ kind: 'answer', afterMs: 150 });
    const r = await cti.control.clickToCall(A, '+86 138-0000-0002');
    expect(r.number).toBe('13800000002');
    const originate = lines().find((l) => l.includes(`origination_uuid=${r.agentLeg}`))!;
    expect(originate).toBe(
      `bgapi originate {origination_uuid=${r.agentLeg},originate_timeout=30,ignore_early_media=true,origination_caller_id_number=12345,hotline_agent=${A.userId}}user/1001 '&bridge({origination_uuid=${r.callUuid},origination_caller_id_number=12345,originate_timeout=30}sofia/gateway/world/13800000002)'`,
    );
    await until(() => ch(r.agentLeg)?.partner === r.callUuid, 3000, 'agent ↔ citizen');
    const session = cti.tracker.get(r.callUuid)!;
    // the switch links the legs a moment before the tracker has handled the bridge event
    await until(() => session.state === 'talking', 3000, 'talking');
    expect(session).toMatchObject({ direction: 'outbound', state: 'talking', agentId: agentA, calleeNumber: '13800000002' });
    await until(() => recorded.length === 1, 3000, 'recording hook');
    expect(recorded[0]).toEqual({ call: r.callUuid, leg: r.agentLeg, agent: agentA });
    await sleep(300);
    citizen.current()!.hangup();
    const cdr = await cdrOf(r.callUuid);
    expect(cdr).toMatchObject({ direction: 'outbound', callerNumber: '12345', calleeNumber: '13800000002', agentId: agentA, hangupSide: 'caller' });
    expect(cdr.talkMs).toBeGreaterThan(200);
    const ev = await legEventsOf(r.callUuid);
    expect(ev.some((e) => e.legUuid === r.agentLeg && e.role === 'agent' && e.event === 'CHANNEL_HANGUP')).toBe(true);
  });

  it('click-to-call refusals: forbidden destinations and blacklisted numbers send nothing to the switch; an unanswered agent phone closes the call', async () => {
    await cti.stop();
    cti = await startCti(pool, tenant, {
      acd,
      blacklist: { check: (_t, n) => (n === '13800000666' ? { id: 'e1', reason: '骚扰' } : null), propose: async () => ({ id: 'x', status: 'pending', number: '' }) },
    });
    const before = lines().length;
    await expect(cti.control.clickToCall(A, '19001234567')).rejects.toMatchObject({ code: 'number_forbidden', httpStatus: 403 });
    await expect(cti.control.clickToCall(A, '+44 20 7946 0000')).rejects.toMatchObject({ code: 'number_forbidden' });
    await expect(cti.control.clickToCall(A, '0044207946000')).rejects.toMatchObject({ code: 'number_forbidden' });
    await expect(cti.control.clickToCall(A, '138 0000 0666')).rejects.toMatchObject({ code: 'number_blacklisted', message: '该号码在黑名单中，不能外呼' });
    await expect(cti.control.clickToCall(A, 'abc')).rejects.toMatchObject({ code: 'number_invalid' });
    expect(lines().length).toBe(before);

    cti.emu.world.phone('1001').set({ kind: 'reject', cause: 'USER_BUSY', afterMs: 50 });
    const err = await cti.control.clickToCall(A, '13800000003').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'target_failed', detail: 'USER_BUSY', message: '呼叫未接通（对方忙）' });
    const uuid = lines().find((l) => l.includes('sofia/gateway/world/13800000003'))!.match(/bridge\(\{origination_uuid=([0-9a-f-]{36})/)![1]!;
    const cdr = await cdrOf(uuid);
    expect(cdr).toMatchObject({ direction: 'outbound', calleeNumber: '13800000003', agentId: agentA, talkMs: 0 });
  });

  it('malicious flag: the agent flags the current caller, a proposal waits for a supervisor, approval blacklists the number', async () => {
    const redis = new Redis(TEST_REDIS_URL);
    const blacklist = new BlacklistService({ db, redis, redisPrefix: randomPrefix('bl'), log });
    await cti.stop();
    cti = await startCti(pool, tenant, { acd, blacklist });
    const { caller, session } = await talkingCall(cti, '13800000777', agentA, '1001');
    const r = await cti.control.flagMalicious(A, '多次辱骂话务员', undefined, 30);
    expect(r.number).toBe('13800000777');
    const pending = await blacklist.proposals(tenant, 'pending');
    const p = pending.find((x) => x.id === r.proposalId)!;
    expect(p).toMatchObject({ number: '13800000777', reason: '多次辱骂话务员', callUuid: session.uuid, proposedBy: agentA, expiresInDays: 30 });
    expect(blacklist.check(tenant, '13800000777')).toBeNull();
    await blacklist.approve(tenant, r.proposalId, supervisor, '核实属实');
    expect(blacklist.check(tenant, '13800000777')).toMatchObject({ reason: '多次辱骂话务员' });
    caller.hangup();
    const cdr = await cdrOf(session.uuid);
    expect(cdr.variables.malicious_flag).toBe(r.proposalId);
    await blacklist.stop();
    redis.disconnect();
  });

  it('blind transfer to a skill group through the real ACD: re-queued with the original arrival, offered to the group’s agent and bridged; the wait counts from the first arrival', async () => {
    const prefix = randomPrefix('ctlacd');
    const node = cti.cluster.nodes[0]!;
    const executor = new EslOfferExecutor({ nodeFor: (u) => cti.cluster.nodeFor(u) ?? node });
    const acdNode = await startNode(prefix, 'n1', {}, executor);
    try {
      const g = group({ tenantId: tenant, members: members([agentB]), noAnswerTimeoutMs: 5000 });
      await acdNode.engine.applyGroup(g);
      await acdNode.engine.login(agentB, tenant, { type: 'sip', address: '1002' });
      await acdNode.engine.setReady(agentB);
      await cti.stop();
      cti = await startCti(pool, tenant, { acd: acdNode.engine });
      // what the integration does on every offer (queued → offering; the tracker then moves it to talking on bridge)
      acdNode.engine.on('offer', (o) => cti.tracker.get(o.callUuid)?.transition('offering', 'offered'));
      const { caller, session, agentLeg } = await talkingCall(cti, '13800000212', agentA, '1001');
      session.times.queueEnterAt = Date.now() - 42_000;
      cti.emu.world.phone('1002').set({ kind: 'answer', afterMs: 100 });
      await cti.control.blindTransfer(A, { kind: 'group', groupId: g.id }, { note: '转专业组' });
      const outcome = await acdNode.engine.outcome(session.uuid);
      expect(outcome).toMatchObject({ outcome: 'answered', agentId: agentB });
      expect((outcome as { waitMs: number }).waitMs).toBeGreaterThanOrEqual(42_000);
      await until(() => !!ch(session.uuid)?.partner && ch(session.uuid)!.partner !== agentLeg, 5000, 'bridged to agent B');
      expect(lines().some((l) => l.startsWith('bgapi originate') && l.includes('user/1002 &park()'))).toBe(true);
      await until(() => session.state === 'talking', 3000, 'talking again');
      caller.hangup();
      const cdr = await cdrOf(session.uuid);
      expect(cdr.finalState).toBe('talking');
    } finally {
      await acdNode.close();
      await dropPrefix(prefix);
    }
  });

  it('a consultation turned into a three-way: agent + target and the caller end up in one conference', async () => {
    const { caller, session, agentLeg } = await talkingCall(cti, '13800000213', agentA, '1001');
    cti.emu.world.number('12315').set({ kind: 'answer', afterMs: 100 });
    const c = await cti.control.consult(A, { kind: 'number', number: '12315' });
    await until(() => ch(agentLeg)?.partner === c.consultLeg, 3000, 'agent ↔ 12315');
    const r = await cti.control.threeWay(A);
    expect(r.expertLeg).toBe(c.consultLeg);
    expect(lines()).toContain(`bgapi uuid_transfer ${agentLeg} -both conference:${r.conference} inline`);
    expect(lines()).toContain(`bgapi uuid_transfer ${session.uuid} conference:${r.conference} inline`);
    const short = r.conference.replace(/@.*/, '');
    await until(() => [session.uuid, agentLeg, c.consultLeg].every((u) => ch(u)?.conference?.name === short), 3000, 'three members');
    expect(session.state).toBe('conferenced');
    await until(() => caller.hearing().includes('conference'), 3000);
    caller.hangup();
    await until(() => !ch(agentLeg) && !ch(c.consultLeg), 3000, 'everyone released');
    const cdr = await cdrOf(session.uuid);
    expect(cdr.finalState).toBe('conferenced');
  });

  it('a consultation the target does not take returns the agent to the caller', async () => {
    const { session, agentLeg } = await talkingCall(cti, '13800000214', agentA, '1001');
    cti.emu.world.phone('1002').set({ kind: 'reject', cause: 'USER_BUSY', afterMs: 50 });
    await expect(cti.control.consult(A, { kind: 'agent', agentId: agentB })).rejects.toMatchObject({ code: 'target_failed', message: '呼叫未接通（对方忙）' });
    await until(() => ch(session.uuid)?.partner === agentLeg, 3000, 'back with the agent');
    expect(session.state).toBe('talking');
    await expect(cti.control.cancelConsult(A)).rejects.toMatchObject({ code: 'no_consult' });
  });
});
