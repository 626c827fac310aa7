// The caller's directory record is read when the call arrives (while the IVR greets them), not after they press the
// queue key: the queue node's screen pop and VIP check then find it cached instead of waiting on PostgreSQL between
// the key press and the ACD. Seen from outside: a change made behind the cache after the call arrived is not in
// that call's screen pop, and the VIP flag read at arrival still lifts the caller.
import { expect, it } from 'vitest';
import { CallerDirectory } from '../../src/ws/index.js';
import type { OfferEvent } from '../../src/acd/index.js';
import { useComposedCti } from '../control/composition.js';
import { agentReady, until, hasHeard } from './cti-fixture.js';

const composed = useComposedCti(1);

it('the record read at arrival is the one in the screen pop', async () => {
  const { e, cti } = composed;
  const emu = cti.emulator!;
  const [agent] = e.agents as [(typeof e.agents)[0]];
  const rec = await new CallerDirectory(cti.ctx.db).create(e.tenant, { number: '13800138111', name: '张三', address: '东城区', kind: 'citizen', vip: true });
  await agentReady(cti.app, agent);
  emu.world.phone(agent.extension!).set({ kind: 'answer', afterMs: 100 });
  const offers: OfferEvent[] = [];
  cti.acd.engine.on('offer', (o: OfferEvent) => offers.push(o));

  const caller = emu.world.dial({ from: '13800138111', to: '12345' });
  await until(() => hasHeard(caller, 'main-menu.wav'), 10_000, 'main menu');
  // edited behind the node's cache after the call arrived (no invalidation reaches it)
  await cti.ctx.pool.query(`update callers set name = '张三(改)', vip = false where id = $1`, [rec!.id]);
  caller.press('1');
  await until(() => offers.some((o) => o.callUuid === caller.uuid), 10_000, 'offer');
  const pop = offers.find((o) => o.callUuid === caller.uuid)!.screenPop;
  expect(pop).toMatchObject({ callerNumber: '13800138111', callerName: '张三', callerAddress: '东城区', vip: true });
  caller.hangup();
  await until(() => cti.tracker.size === 0, 10_000, 'call ended');
});
