// The caller hangs up in the very instant the agent answers: the routing state already took the answer (the queue
// events will name the agent) when the CTI sees the caller's hang-up. The CDR must then name that agent too, and
// the agent must not stay talking. The race is made exact by holding the engine right after its 'answered' script.
import { beforeAll, expect, it } from 'vitest';
import { until, sleep, agentReady } from '../e2e/cti-fixture.js';
import { useComposedCti, queueCaller, type Composed } from '../control/composition.js';
import type { RoutingStore } from '../../src/acd/routing-store.js';

const composed = useComposedCti(1);
let e: Composed['e'];
let cti: Composed['cti'];
beforeAll(() => {
  ({ e, cti } = composed);
});

it('caller gone as the agent answers: the CDR names the agent the queue answer event names, and the agent leaves talking', async () => {
  const emu = cti.emulator!;
  const [a] = e.agents as [(typeof e.agents)[0]];
  await agentReady(cti.app, a);
  const phoneA = emu.world.phone(a.extension!).set({ kind: 'manual' });
  const caller = await queueCaller(cti, '13800138222');
  await until(() => phoneA.current() !== undefined, 10_000, 'A rings');

  // the answer is in Redis; before the engine goes on with it, the caller hangs up and the CTI handles that
  const store: RoutingStore = cti.acd.engine.store;
  const run = store.run.bind(store);
  let held = false;
  store.run = async (name, now, args) => {
    const r = await run(name, now, args);
    if (name === 'answered' && args[0] === caller.uuid && !held) {
      held = true;
      caller.hangup();
      await sleep(800);
    }
    return r;
  };
  try {
    phoneA.current()!.answer();
    await until(() => held, 5000, 'answer recorded in the routing state');
    await until(async () => {
      const r = await cti.ctx.pool.query('select 1 from cdrs where call_uuid = $1', [caller.uuid]);
      return r.rowCount === 1;
    }, 10_000, 'CDR written');
  } finally {
    store.run = run;
  }
  const answerAgents = async () =>
    (await cti.ctx.pool.query<{ agent_id: string | null }>("select agent_id from queue_events where call_uuid = $1 and type = 'answer'", [caller.uuid])).rows.map((x) => x.agent_id);
  await until(async () => (await answerAgents()).length > 0, 5000, 'answer event');
  expect(await answerAgents()).toEqual([a.id]);
  const cdr = await cti.ctx.pool.query<{ agent_id: string | null }>('select agent_id from cdrs where call_uuid = $1', [caller.uuid]);
  expect(cdr.rows).toEqual([{ agent_id: a.id }]);
  // the agent's call ended in the routing state (wrap-up or ready), the phone is down
  await until(async () => (await cti.acd.engine.agent(a.id))?.state !== 'talking', 5000, 'A leaves talking');
  await until(() => phoneA.calls.every((c) => c.ended), 5000, "A's phone hung up");
});
