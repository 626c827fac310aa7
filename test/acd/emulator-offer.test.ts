// The ACD offering real (emulated) calls over ESL: the caller parked on the switch, the agent's phone originated
// and bridged. The emulator stands in for FreeSWITCH (src/sim); commands go in-process.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/sim/index.js';
import { EslOfferExecutor, type BgapiNode } from '../../src/acd/esl-offer-executor.js';
import { EslCommandError } from '../../src/esl/errors.js';
import { startNode, dropPrefix, newPrefix, group, members, ids, sleep, TENANT, type TestNode } from './helpers.js';

let emu: Emulator;
let node: TestNode;
let prefix: string;

beforeEach(async () => {
  emu = new Emulator({ listen: false, heartbeatSec: 0 });
  await emu.start();
  const sw: BgapiNode = {
    async bgapi(cmd) {
      const body = await emu.command(cmd);
      if (/^-(ERR|USAGE)/.test(body)) throw new EslCommandError(cmd, body);
      return body;
    },
  };
  prefix = newPrefix();
  const executor = new EslOfferExecutor({ nodeFor: () => sw }, { confirmFile: 'confirm.wav' });
  node = await startNode(prefix, 'n1', {}, executor);
});
afterEach(async () => {
  await node.close();
  await dropPrefix(prefix);
  await emu.close();
});

async function parkedCaller(from: string) {
  const caller = emu.world.dial({ from });
  for (let i = 0; i < 200 && !(caller.uuid && emu.channel(caller.uuid)?.apps.includes('park')); i++) await sleep(10);
  await emu.command(`uuid_answer ${caller.uuid}`); // the IVR answered before handing the caller to the queue
  return caller;
}

describe('offers over ESL (emulated switch)', () => {
  it('rings the agent phone, bridges on answer; a phone that does not answer passes the call to the next agent', async () => {
    const a = ids(2) as [string, string];
    const g = group({ members: members(a), noAnswerTimeoutMs: 2000 });
    await node.engine.applyGroup(g);
    emu.world.phone('1001').set({ kind: 'noanswer' });
    emu.world.phone('1002').set({ kind: 'answer', afterMs: 150 });
    await node.engine.login(a[0], TENANT, { type: 'sip', address: '1001' });
    await node.engine.setReady(a[0]);
    await sleep(5);
    await node.engine.login(a[1], TENANT, { type: 'sip', address: '1002' });
    await node.engine.setReady(a[1]);
    const caller = await parkedCaller('13800000001');
    const t0 = Date.now();
    await node.engine.enqueue({ callUuid: caller.uuid!, tenantId: TENANT, groupId: g.id, callerNumber: '13800000001' });
    const o = await node.engine.outcome(caller.uuid!);
    expect(o).toMatchObject({ outcome: 'answered', agentId: a[1] });
    // 1001 rang out (originate_timeout 2 s), then 1002 answered after 150 ms
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1200);
    for (let i = 0; i < 50 && !emu.channel(caller.uuid!)?.partner; i++) await sleep(10);
    expect(emu.channel(caller.uuid!)?.partner).toBeTruthy();
    expect((await node.engine.agent(a[0]))?.misses).toBe(1);
  }, 15_000);

  it('SUBSCRIBER_ABSENT for a registered phone (the directory lookup failed): a miss and the next agent, not 话机离线', async () => {
    const a = ids(2) as [string, string];
    const g = group({ members: members(a), noAnswerTimeoutMs: 5000 });
    await node.engine.applyGroup(g);
    emu.world.phone('1002').set({ kind: 'answer', afterMs: 100 });
    // 1001 stays registered, but the switch cannot find it in its directory (as when mod_xml_curl times out)
    emu.directory.users.delete('1001');
    await node.engine.login(a[0], TENANT, { type: 'sip', address: '1001' });
    await node.engine.setReady(a[0]);
    await sleep(5);
    await node.engine.login(a[1], TENANT, { type: 'sip', address: '1002' });
    await node.engine.setReady(a[1]);
    const caller = await parkedCaller('13800000003');
    await node.engine.enqueue({ callUuid: caller.uuid!, tenantId: TENANT, groupId: g.id, callerNumber: '13800000003' });
    expect(await node.engine.outcome(caller.uuid!)).toMatchObject({ outcome: 'answered', agentId: a[1] });
    for (let i = 0; i < 50 && !emu.channel(caller.uuid!)?.partner; i++) await sleep(10);
    expect(emu.channel(caller.uuid!)?.partner).toBeTruthy();
    const first = await node.engine.agent(a[0]);
    expect(first).toMatchObject({ state: 'ready', misses: 1 });
    expect(first?.reason ?? '').not.toBe('话机离线');

    // the same failure with no registration on the switch: the phone is really offline
    emu.directory.regs.delete('1001');
    const caller2 = await parkedCaller('13800000004');
    await node.engine.enqueue({ callUuid: caller2.uuid!, tenantId: TENANT, groupId: g.id, callerNumber: '13800000004' });
    for (let i = 0; i < 100 && (await node.engine.agent(a[0]))?.state === 'ready'; i++) await sleep(20);
    expect(await node.engine.agent(a[0])).toMatchObject({ state: 'not_ready', reason: '话机离线' });
  }, 15_000);

  it('a mobile agent accepts by pressing the confirm key', async () => {
    const a = ids(1) as [string];
    const g = group({ members: members(a), noAnswerTimeoutMs: 10_000 });
    await node.engine.applyGroup(g);
    const mobile = emu.world.number('13700000001');
    mobile.set({ kind: 'answer', afterMs: 200 });
    await node.engine.login(a[0], TENANT, { type: 'mobile', address: '13700000001', gateway: 'world', confirmKey: '1' });
    await node.engine.setReady(a[0]);
    const caller = await parkedCaller('13800000002');
    await node.engine.enqueue({ callUuid: caller.uuid!, tenantId: TENANT, groupId: g.id, callerNumber: '13800000002' });
    for (let i = 0; i < 100 && !mobile.current(); i++) await sleep(20);
    await sleep(600);
    mobile.current()!.press('1');
    expect(await node.engine.outcome(caller.uuid!)).toMatchObject({ outcome: 'answered', agentId: a[0] });
    for (let i = 0; i < 50 && !emu.channel(caller.uuid!)?.partner; i++) await sleep(10);
    expect(emu.channel(caller.uuid!)?.partner).toBeTruthy();
  }, 15_000);
});
