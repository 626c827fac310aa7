// The caller hangs up a few milliseconds after the agent's phone answers the ACD's offer (real composition, emulated
// switch), at offsets spread over the window in which the CTI originates, bridges and marks the call answered.
// Every try: the call ends (one CDR), no channel is left on the switch, and the agent is never left talking with no
// call: they end in wrap-up or ready. Before the fix the agent leg was known to the call only from CHANNEL_BRIDGE,
// so a hang-up just before it never counted as the agent's call ending and the agent stayed talking.
import { expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { cdrs } from '../../src/db/schema/calls.js';
import type { EslEvent } from '../../src/sim/index.js';
import { agentReady, until } from './cti-fixture.js';
import { useComposedCti, queueCaller } from '../control/composition.js';

const composed = useComposedCti(1);
const TRIES = 40;

it(`caller hangs up 0-${TRIES - 1} ms after the agent answers: the agent always ends free, one CDR, no channel left`, async () => {
  const { e, cti } = composed;
  const emu = cti.emulator!;
  const [agent] = e.agents as [(typeof e.agents)[0]];
  await agentReady(cti.app, agent);
  const phone = emu.world.phone(agent.extension!).set({ kind: 'answer', afterMs: 50 });
  const outcomes: string[] = [];
  for (let i = 0; i < TRIES; i++) {
    const caller = await queueCaller(cti, `1380013${String(8000 + i)}`);
    const unsubscribe = emu.emulator.core.subscribe((ev: EslEvent) => {
      if (ev.name !== 'CHANNEL_ANSWER' || ev.headers['variable_hotline_queue_call'] !== caller.uuid) return;
      unsubscribe();
      setTimeout(() => caller.hangup(), i);
    });
    await until(() => caller.ended, 10_000, `try ${i}: caller gone`);
    await until(() => cti.tracker.get(caller.uuid!) === undefined, 5000, `try ${i}: call ended in the CTI`);
    await until(() => emu.emulator.channels().length === 0, 5000, `try ${i}: no channel left on the switch`).catch((err) => {
      throw new Error(`${String(err)}: ${JSON.stringify(emu.emulator.channels())}`);
    });
    let state = '';
    await until(async () => {
      const snap = await cti.acd.engine.agent(agent.id);
      state = snap?.state ?? '';
      return state === 'wrap_up' || state === 'ready';
    }, 3000, `try ${i}: agent free`).catch((err) => {
      throw new Error(`${String(err)}: agent ${state}, phone calls ${JSON.stringify(phone.calls.slice(-1).map((c) => [c.uuid, c.ended, c.endCause]))}`);
    });
    outcomes.push(state);
    const rows = await cti.ctx.db.select().from(cdrs).where(eq(cdrs.callUuid, caller.uuid!));
    expect(rows, `try ${i}: one CDR`).toHaveLength(1);
    // a call that was bridged names its agent; one that ended before the bridge names nobody else
    const cdr = rows[0]!;
    if (cdr.agentAnswerAt) expect(cdr.agentId, `try ${i}: CDR agent`).toBe(agent.id);
    expect([null, agent.id]).toContain(cdr.agentId);
    if (state === 'wrap_up') await cti.acd.engine.endWrapUp(agent.id);
    await until(async () => (await cti.acd.engine.agent(agent.id))?.state === 'ready', 3000, `try ${i}: ready again`);
  }
  // the race was hit: some calls reached the agent (wrap-up), the earliest hang-ups did not
  expect(outcomes).toContain('wrap_up');
  expect(outcomes).toContain('ready');
}, 180_000);
