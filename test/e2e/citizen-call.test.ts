// (a) The whole inbound path on the real composition (startCti) and its embedded emulator: a citizen dials 12345,
// hears the welcome, presses 1 (咨询), waits with hold music, is offered to an agent who signed in and went ready
// over the ACD REST routes, the agent's phone answers and is bridged, the agent hangs up, the caller rates the call
// in the survey and hangs up. Then: one CDR (times, agent, group, IVR path, recording), the survey result, queue
// events, agent state log rows, and what the switch was told.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { and, eq } from 'drizzle-orm';
import { cdrs } from '../../src/db/schema/calls.js';
import { surveyResults } from '../../src/db/schema/ivr.js';
import { queueEvents } from '../../src/db/schema/acd.js';
import { agentStateLog } from '../../src/db/schema/agents.js';
import { recordings } from '../../src/db/schema/recording.js';
import { prepareE2eTenant, startTestCti, agentReady, until, hasHeard, heardFiles, type E2eTenant, type StartedCti } from './cti-fixture.js';

let e: E2eTenant;
let cti: StartedCti;

beforeAll(async () => {
  e = await prepareE2eTenant({ agentCount: 2 });
  cti = await startTestCti(e);
}, 30_000);

afterAll(async () => {
  await cti?.close();
  await e?.close();
});

describe('a citizen calls 12345 and talks to an agent', () => {
  it('welcome → 1 咨询 → hold music → agent answers → bridged → agent hangs up → survey 1 → CDR, survey, queue events, state log', async () => {
    const emu = cti.emulator!;
    const db = cti.ctx.db;
    const [agent] = e.agents as [typeof e.agents[0]];
    const phone = emu.world.phone(agent.extension!);
    phone.set({ kind: 'answer', afterMs: 300 });

    const caller = emu.world.dial({ from: '13800138000', to: '12345' });
    await until(() => hasHeard(caller, 'main-menu.wav'), 10_000, 'main menu');
    caller.press('1');
    // nobody is ready yet: the caller waits with the group's music
    await until(() => caller.heard.some((h) => h.what.startsWith('moh:')), 10_000, 'hold music');
    const session = cti.tracker.get(caller.uuid!)!;
    expect(session.state).toBe('queued');

    await agentReady(cti.app, agent);
    await until(() => Boolean(emu.emulator.channel(caller.uuid!)?.partner), 10_000, 'bridge');
    const agentLeg = emu.emulator.channel(caller.uuid!)!.partner!;
    expect(emu.emulator.channel(agentLeg)?.partner).toBe(caller.uuid);
    await until(() => session.state === 'talking' && session.recordingId !== undefined, 5000, 'talking + recording');
    expect(session.agentId).toBe(agent.id);
    await until(() => caller.hearing().startsWith('party:'), 5000, 'caller hears the agent');

    // the agent hangs up first: the caller stays (park_after_bridge) and is asked to rate the call
    phone.current()!.hangup();
    await until(() => hasHeard(caller, 'survey.wav'), 10_000, 'survey prompt');
    expect(caller.ended).toBe(false);
    caller.press('1');
    await until(() => caller.ended, 10_000, 'survey ends the call');
    expect(hasHeard(caller, 'survey-thanks.wav')).toBe(true);

    // what the caller heard, in order
    const files = heardFiles(caller.heard);
    expect(files.slice(0, 2)).toEqual(['welcome.wav', 'main-menu.wav']);
    expect(files.indexOf('survey.wav')).toBeGreaterThan(1);

    // what the switch was told
    const lines = emu.emulator.commands.map((c) => c.line + ' ' + (c.body ?? '') + JSON.stringify(c.headers ?? {}));
    const uuid = caller.uuid!;
    expect(lines.some((l) => l.includes(`sched_del ${uuid}`))).toBe(true);
    expect(lines.some((l) => l.includes(`uuid_setvar ${uuid} park_after_bridge true`))).toBe(true);
    expect(lines.some((l) => /originate .*user\/1001/.test(l))).toBe(true);
    expect(lines.some((l) => l.includes(`uuid_bridge ${uuid} ${agentLeg}`))).toBe(true);
    expect(lines.some((l) => l.includes(`uuid_record ${agentLeg} start`))).toBe(true);
    // sched_del came before the first answer/media command
    const idx = (re: RegExp) => lines.findIndex((l) => re.test(l));
    expect(idx(new RegExp(`sched_del ${uuid}`))).toBeLessThan(idx(/uuid_answer|execute-app-name: answer|"execute-app-name":"answer"/) === -1 ? Infinity : idx(/uuid_answer|execute-app-name: answer|"execute-app-name":"answer"/));

    // one CDR
    await until(async () => (await db.select().from(cdrs).where(eq(cdrs.callUuid, uuid))).length === 1, 10_000, 'CDR');
    const cdr = (await db.select().from(cdrs).where(eq(cdrs.callUuid, uuid)))[0]!;
    expect(cdr).toMatchObject({ tenantId: e.tenant, callerNumber: '13800138000', did: '12345', agentId: agent.id, skillGroupId: e.groups.get('consult') });
    for (const t of ['startAt', 'answerAt', 'queueEnterAt', 'queueLeaveAt', 'agentAnswerAt', 'endAt'] as const) expect(cdr[t], t).toBeInstanceOf(Date);
    expect(cdr.queueEnterAt!.getTime()).toBeLessThanOrEqual(cdr.agentAnswerAt!.getTime());
    expect(cdr.talkMs).toBeGreaterThan(0);
    expect(cdr.ivrPath).toEqual(expect.arrayContaining(['main:welcome', 'main:main-menu', 'main:queue-consult', 'survey:rate']));
    expect(cdr.recordingId).toBeTruthy();
    const rec = (await db.select().from(recordings).where(eq(recordings.id, cdr.recordingId!)))[0]!;
    expect(rec).toMatchObject({ callUuid: uuid, agentId: agent.id });

    // the survey result against the call
    await until(async () => (await db.select().from(surveyResults).where(eq(surveyResults.callUuid, uuid))).length === 1, 5000, 'survey row');
    const survey = (await db.select().from(surveyResults).where(eq(surveyResults.callUuid, uuid)))[0]!;
    expect(survey).toMatchObject({ key: '1', label: '满意', score: 3 });

    // queue events (batched writer) and the agent's state log
    await until(async () => {
      const types = (await db.select().from(queueEvents).where(eq(queueEvents.callUuid, uuid))).map((r) => r.type);
      return ['enqueue', 'offer', 'answer', 'complete'].every((t) => types.includes(t as never));
    }, 10_000, 'queue events');
    let states: string[] = [];
    await until(async () => {
      states = (await db.select().from(agentStateLog).where(and(eq(agentStateLog.tenantId, e.tenant), eq(agentStateLog.agentId, agent.id)))).map((r) => r.state);
      // sign-in, offer, bridge and hang-up each leave a row
      return ['reserved', 'talking', 'wrap_up'].every((s) => states.includes(s as never));
    }, 10_000, 'agent state log').catch((err: Error) => {
      throw new Error(`${err.message}: ${states.join(',')}`);
    });
    // after wrap-up the agent is ready again
    await until(async () => (await cti.acd.engine.agent(agent.id))?.state === 'ready', 15_000, 'agent ready after wrap-up');
  }, 60_000);
});
