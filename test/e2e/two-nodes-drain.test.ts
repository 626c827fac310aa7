// (f) two CTI nodes on one switch (emulator), one Redis, one PostgreSQL: every call is handled by exactly one node.
// (g) graceful drain of one node: it claims no new call (the other node takes it), its live calls finish, then it
// closes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inArray } from 'drizzle-orm';
import { startEmulator, type RunningEmulator, type SimCaller } from '../../src/sim/index.js';
import { cdrs } from '../../src/db/schema/calls.js';
import { prepareE2eTenant, startTestCti, until, sleep, heardFiles, type E2eTenant, type StartedCti } from './cti-fixture.js';

let e: E2eTenant;
let emu: RunningEmulator;
let a: StartedCti;
let b: StartedCti;
let aClosed = false;
let bClosed = false;
const callers: SimCaller[] = [];

beforeAll(async () => {
  e = await prepareE2eTenant({ agentCount: 1 });
  emu = await startEmulator({ heartbeatSec: 0, mediaDurations: Object.fromEntries(e.dirs.promptNames.map((n) => [n, 300])) });
  const esl = { FREESWITCH_ESL: `${emu.host}:${emu.port}`, FREESWITCH_ESL_PASSWORD: emu.password };
  a = await startTestCti(e, { env: { ...esl, NODE_ID: 'cti-a' } });
  b = await startTestCti(e, { env: { ...esl, NODE_ID: 'cti-b' } });
}, 40_000);

afterAll(async () => {
  for (const c of callers) if (!c.ended) c.hangup();
  if (!aClosed) await a?.close();
  if (!bClosed) await b?.close();
  await emu?.close();
  await e?.close();
});

const owners = (uuid: string) => [a, b].filter((n) => n.tracker.get(uuid) !== undefined).map((n) => n.ctx.nodeId);
const schedDels = (uuid: string) => emu.emulator.commands.filter((c) => c.line.includes(`sched_del ${uuid}`)).length;

describe('two CTI nodes on one switch', () => {
  it('(f) each call is claimed, answered and run by exactly one node', async () => {
    for (let i = 0; i < 8; i++) callers.push(emu.world.dial({ from: `1380000100${i}`, to: '12345' }));
    await until(() => callers.every((c) => heardFiles(c.heard).includes('main-menu.wav')), 15_000, 'every caller in the main menu');
    for (const c of callers) {
      expect(owners(c.uuid!), c.uuid).toHaveLength(1);
      expect(schedDels(c.uuid!)).toBe(1);
      expect(heardFiles(c.heard).filter((f) => f === 'welcome.wav')).toHaveLength(1);
    }
    // which node wins is a race (in one test process the node whose socket is read first usually wins): only
    // "exactly one" is the contract
    const aCount = callers.filter((c) => owners(c.uuid!)[0] === 'cti-a').length;
    console.log(`two nodes: cti-a took ${aCount}, cti-b ${callers.length - aCount} of ${callers.length} calls`);
    // one answer per call
    const answers = emu.emulator.commands.filter((c) => callers.some((x) => c.line.includes(`uuid_answer ${x.uuid}`)) || (c.headers?.['execute-app-name'] === 'answer'));
    expect(answers.length).toBeLessThanOrEqual(callers.length);
  }, 30_000);

  it('(g) drain: the draining node takes no new call, its live calls finish, then it closes', async () => {
    // drain the node that holds live calls (whichever won them)
    const [drained, other] = callers.some((c) => owners(c.uuid!)[0] === 'cti-a') ? [a, b] : [b, a];
    const onA = callers.filter((c) => owners(c.uuid!)[0] === drained.ctx.nodeId);
    const onB = callers.filter((c) => owners(c.uuid!)[0] === other.ctx.nodeId);
    expect(onA.length).toBeGreaterThan(0);
    for (const c of onB) c.hangup();

    let closed = false;
    void drained.close().then(() => (closed = true));
    await until(() => drained.lifecycle.draining);
    expect((await drained.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(503);

    // new calls while it drains: all go to the other node
    const fresh = Array.from({ length: 4 }, (_, i) => emu.world.dial({ from: `1390000200${i}`, to: '12345' }));
    callers.push(...fresh);
    await until(() => fresh.every((c) => heardFiles(c.heard).includes('welcome.wav')), 10_000, 'new callers served');
    for (const c of fresh) expect(owners(c.uuid!)).toEqual([other.ctx.nodeId]);

    // its live calls go on: still tracked, the callers still up, the node still open
    await sleep(300);
    expect(closed).toBe(false);
    for (const c of onA) {
      expect(c.ended).toBe(false);
      expect(drained.tracker.get(c.uuid!)).toBeDefined();
    }
    for (const c of onA) c.hangup();
    await until(() => closed, 10_000, 'drained node closed after its last call');
    if (drained === a) aClosed = true;
    else bClosed = true;

    // it wrote the CDRs of its calls before closing
    const rows = await other.ctx.db.select().from(cdrs).where(inArray(cdrs.callUuid, onA.map((c) => c.uuid!)));
    expect(rows).toHaveLength(onA.length);
    expect(new Set(rows.map((r) => r.ctiNode))).toEqual(new Set([drained.ctx.nodeId]));
    for (const c of fresh) c.hangup();
  }, 40_000);
});
