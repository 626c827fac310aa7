// Recording survives the agent leaving a three-way (real composition, emulated switch): the agent's recording on
// their leg ends when they leave; the caller's leg is recorded from before the kick until the call ends, so the
// caller ↔ expert part is on record. The CDR's leg events say who left when.
import { beforeAll, expect, it } from 'vitest';
import { until, sleep, agentReady } from '../e2e/cti-fixture.js';
import { useComposedCti, queueCaller, type Composed } from '../control/composition.js';

const composed = useComposedCti(2);
let e: Composed['e'];
let cti: Composed['cti'];
beforeAll(() => {
  ({ e, cti } = composed);
});

interface RecRow {
  leg_uuid: string;
  agent_id: string | null;
  started_at: Date;
  ended_at: Date | null;
  duration_ms: number | null;
  status: string;
}

it('the agent leaves the three-way: the caller leg is recorded from before the kick to the end of the call', async () => {
  const emu = cti.emulator!;
  const [a, expert] = e.agents as [(typeof e.agents)[0], (typeof e.agents)[1]];
  const aSession = await agentReady(cti.app, a);
  emu.world.phone(a.extension!).set({ kind: 'answer', afterMs: 100 });
  emu.world.phone(expert.extension!).set({ kind: 'answer', afterMs: 100 });

  const caller = await queueCaller(cti, '13800138401');
  await until(async () => (await cti.acd.engine.agent(a.id))?.state === 'talking', 10_000, 'agent talking');
  await until(() => Boolean(emu.emulator.channel(caller.uuid!)?.partner), 5000, 'bridged');
  const agentLeg = emu.emulator.channel(caller.uuid!)!.partner!;
  // the expert must be signed in and ready (after the caller went to A): a three-way reserves them in the ACD
  await agentReady(cti.app, expert);
  // the agent's recording on the agent leg
  await until(async () => (await cti.ctx.pool.query('select 1 from recordings where call_uuid = $1', [caller.uuid])).rowCount === 1, 5000, 'agent recording');

  const tw = await cti.app.inject({ method: 'POST', url: '/calls/three-way', headers: aSession.bearer, payload: { target: { kind: 'agent', agentId: expert.id } } });
  expect(tw.statusCode).toBe(200);
  const { conference } = tw.json() as { conference: string };
  await sleep(300);
  const leave = await cti.app.inject({ method: 'POST', url: '/calls/three-way/leave', headers: aSession.bearer, payload: {} });
  expect(leave.statusCode).toBe(200);
  const leftAt = Date.now();

  const lines = emu.emulator.commands.map((c) => c.line);
  const recordCaller = lines.findIndex((l) => l.includes(`uuid_record ${caller.uuid} start `));
  const kick = lines.findIndex((l) => l.includes(`conference ${conference.replace(/@.*$/, '')} kick `));
  expect(recordCaller).toBeGreaterThan(-1);
  expect(kick).toBeGreaterThan(recordCaller);
  // caller and expert keep talking
  await until(() => emu.emulator.channel(agentLeg) === undefined, 5000, 'agent leg gone');
  expect(caller.ended).toBe(false);

  await sleep(1000);
  caller.hangup();
  const endedAt = Date.now();
  let rows: RecRow[] = [];
  await until(async () => {
    rows = (await cti.ctx.pool.query<RecRow>('select leg_uuid, agent_id, started_at, ended_at, duration_ms, status from recordings where call_uuid = $1 order by started_at', [caller.uuid])).rows;
    return rows.length === 2 && rows.every((r) => r.status !== 'recording' && r.duration_ms !== null);
  }, 8000, 'both recordings finalized');
  const [agentRec, callerRec] = rows as [RecRow, RecRow];
  expect(agentRec.leg_uuid).toBe(agentLeg);
  expect(agentRec.ended_at!.getTime()).toBeLessThanOrEqual(leftAt + 500);
  expect(callerRec).toMatchObject({ leg_uuid: caller.uuid, agent_id: a.id });
  // the caller leg's recording starts no later than the agent left and lasts to the caller's hang-up
  // (RECORD_START times the row: a few ms after the job's reply; the command order above is the strict check)
  expect(callerRec.started_at.getTime()).toBeLessThanOrEqual(Math.min(leftAt, agentRec.ended_at!.getTime()) + 100);
  expect(callerRec.ended_at!.getTime()).toBeGreaterThanOrEqual(endedAt - 300);
  expect(callerRec.duration_ms!).toBeGreaterThanOrEqual(endedAt - leftAt - 300);

  // who left when, in the call's leg events
  await until(async () => {
    const r = await cti.ctx.pool.query<{ event: string; leg_uuid: string }>(`select event, leg_uuid from call_leg_events where call_uuid = $1 and event = 'CONFERENCE_LEAVE'`, [caller.uuid]);
    return r.rows.some((x) => x.leg_uuid === agentLeg);
  }, 5000, 'CONFERENCE_LEAVE leg event');
});
