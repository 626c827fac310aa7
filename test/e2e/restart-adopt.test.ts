// A CTI node restarted (same NODE_ID) while a caller waits in a queue: the new process re-adopts the parked call,
// re-attaches it to its queue position (hold music again) and the caller reaches an agent; one CDR in the end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { startEmulator, type RunningEmulator } from '../../src/sim/index.js';
import { cdrs } from '../../src/db/schema/calls.js';
import { prepareE2eTenant, startTestCti, agentReady, until, hasHeard, type E2eTenant, type StartedCti } from './cti-fixture.js';

let e: E2eTenant;
let emu: RunningEmulator;
let first: StartedCti | undefined;
let second: StartedCti | undefined;

beforeAll(async () => {
  e = await prepareE2eTenant({ agentCount: 1 });
  emu = await startEmulator({ heartbeatSec: 0, mediaDurations: Object.fromEntries(e.dirs.promptNames.map((n) => [n, 300])) });
});
afterAll(async () => {
  await second?.close();
  await emu?.close();
  await e?.close();
});

describe('restart with a caller waiting', () => {
  it('the queued caller is re-adopted, keeps its place and is answered by an agent', async () => {
    const env = { FREESWITCH_ESL: `${emu.host}:${emu.port}`, FREESWITCH_ESL_PASSWORD: emu.password, NODE_ID: 'cti-restart', DRAIN_TIMEOUT_MS: '0' };
    first = await startTestCti(e, { env });
    const caller = emu.world.dial({ from: '13800005555', to: '12345' });
    await until(() => hasHeard(caller, 'main-menu.wav'), 10_000, 'main menu');
    caller.press('1');
    await until(() => caller.heard.some((h) => h.what.startsWith('moh:')), 10_000, 'hold music');
    expect(first.tracker.get(caller.uuid!)?.state).toBe('queued');

    // the node goes away with the call still parked on the switch (drain timeout 0: nothing waits)
    await first.close();
    const musicBefore = caller.heard.filter((h) => h.what.startsWith('moh:')).length;
    expect(caller.ended).toBe(false);

    second = await startTestCti(e, { env });
    await until(() => second!.tracker.get(caller.uuid!)?.adopted === true, 10_000, 'adopted');
    expect(second.tracker.get(caller.uuid!)!.state).toBe('queued');
    expect(second.acd.adopted.map((a) => a.callUuid)).toContain(caller.uuid);
    await until(() => caller.heard.filter((h) => h.what.startsWith('moh:')).length > musicBefore, 5000, 'hold music again');

    const [agent] = e.agents as [typeof e.agents[0]];
    emu.world.phone(agent.extension!).set({ kind: 'answer', afterMs: 200 });
    await agentReady(second.app, agent);
    await until(() => Boolean(emu.emulator.channel(caller.uuid!)?.partner), 10_000, 'bridged after the restart');
    await until(() => second!.tracker.get(caller.uuid!)?.state === 'talking', 5000, 'talking');

    caller.hangup();
    await until(async () => (await second!.ctx.db.select().from(cdrs).where(eq(cdrs.callUuid, caller.uuid!))).length === 1, 10_000, 'CDR');
    const [cdr] = await second.ctx.db.select().from(cdrs).where(eq(cdrs.callUuid, caller.uuid!));
    expect(cdr).toMatchObject({ agentId: agent.id, ctiNode: 'cti-restart' });
    expect(cdr!.ivrPath).toEqual(expect.arrayContaining(['main:main-menu', 'main:queue-consult']));
  }, 60_000);
});
