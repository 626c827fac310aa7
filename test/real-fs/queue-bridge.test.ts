// Issue #5 on a real FreeSWITCH: an agent phone (SIPp UAS) registers on the hotline-agents profile with the SIP
// password the CTI's directory serves (mod_xml_curl → POST /freeswitch/directory), the agent signs in and goes ready,
// a citizen dials 12345, presses 1 and queues in the agent's skill group; the ACD originates to the registered phone,
// which answers, and the CTI bridges it to the caller. Asserted: the originate and uuid_bridge the CTI sent, the
// bridge on the switch (CHANNEL_BRIDGE, `show calls`), the agent talking, then the CDR and the queue events.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { cdrs } from '../../src/db/schema/calls.js';
import { queueEvents } from '../../src/db/schema/acd.js';
import { agentReady, type E2eTenant, type StartedCti } from '../e2e/cti-fixture.js';
import {
  realSwitchUp, realSwitchName, SwitchObserver, recordCtiCommands, realPrompts, startCtiOnRealSwitch, prepareSipTenant,
  sippMissing, startSippAgents, dial12345, until, sleep,
} from './real-switch.js';

const up = await realSwitchUp('queue-bridge.test.ts');
const noSipp = up ? sippMissing() : null;
if (noSipp) console.warn(`[real-fs] queue-bridge.test.ts skipped: ${noSipp}`);

(up && !noSipp ? describe : describe.skip)(`queue → agent bridge on the real FreeSWITCH at ${realSwitchName}`, () => {
  let e: E2eTenant;
  let cti: StartedCti;
  let fs: SwitchObserver;
  let sent: string[];
  let phones: { stop(): Promise<void> } | undefined;

  beforeAll(async () => {
    fs = new SwitchObserver();
    await fs.start();
    await fs.hangupAll();
    e = await prepareSipTenant({ agentCount: 1 });
    realPrompts(e, 1);
    cti = await startCtiOnRealSwitch(e, { SIP_DEFAULT_TENANT: 'demo' });
    sent = recordCtiCommands(cti);
    phones = await startSippAgents(e.agents);
  }, 40_000);

  afterAll(async () => {
    await fs?.hangupAll();
    await phones?.stop();
    await cti?.close();
    await e?.close();
    await fs?.stop();
  });

  it('registered SIPp agent goes ready, a 12345 caller presses 1, the ACD originates and bridges; agent talking; CDR and queue events', async () => {
    const [agent] = e.agents as [(typeof e.agents)[0]];
    const [groupId] = [...e.groups.values()] as [string];
    // the phone's registration is on the switch, under the forced domain
    expect(await fs.api(`sofia_contact */${agent.extension}@demo`)).toMatch(/^sofia\/hotline-agents\/sip:/);

    await agentReady(cti.app, agent);
    const { callerLeg, hotlineLeg } = await dial12345(fs);
    await until(() => fs.apps(hotlineLeg).some((a) => a.includes('main-menu.wav')), 10_000, 'main menu');
    await sleep(300);
    await fs.api(`uuid_send_dtmf ${callerLeg} 1`);

    const session = await (async () => {
      await until(() => cti.tracker.get(hotlineLeg)?.state === 'talking', 15_000, 'caller talking to the agent');
      return cti.tracker.get(hotlineLeg)!;
    })();
    expect(session.agentId).toBe(agent.id);

    // the CTI originated to the agent's registered phone and bridged the legs
    const originate = sent.find((l) => l.startsWith('originate ') && l.includes(`user/${agent.extension}`));
    expect(originate, sent.join('\n')).toBeDefined();
    const bridgeCmd = sent.find((l) => l.startsWith(`uuid_bridge ${hotlineLeg} `));
    expect(bridgeCmd, sent.join('\n')).toBeDefined();
    const agentLeg = bridgeCmd!.split(' ')[2]!;

    // the switch bridged them: CHANNEL_BRIDGE names both legs, and each leg's bridge_uuid is the other.
    // (`show calls` does not pair them: it groups legs by the call_uuid set at originate, which uuid_bridge leaves alone.)
    await until(() => fs.of(hotlineLeg, 'CHANNEL_BRIDGE').length > 0, 5000, 'CHANNEL_BRIDGE');
    const bridged = fs.of(hotlineLeg, 'CHANNEL_BRIDGE')[0]!;
    expect([bridged.headers['Bridge-A-Unique-ID'], bridged.headers['Bridge-B-Unique-ID']]).toEqual([hotlineLeg, agentLeg]);
    expect(await fs.api(`uuid_getvar ${hotlineLeg} bridge_uuid`)).toBe(agentLeg);
    expect(await fs.api(`uuid_getvar ${agentLeg} bridge_uuid`)).toBe(hotlineLeg);
    // `show channels` lists a channel once the switch's core database caught up (~100 ms after it exists)
    await until(async () => (await fs.channels()).some((r) => r.uuid === agentLeg), 3000, 'the agent leg in show channels');
    expect((await fs.channels()).find((r) => r.uuid === agentLeg)?.name).toMatch(new RegExp(`^sofia/hotline-agents/${agent.extension}@`));
    expect(await fs.api(`uuid_getvar ${hotlineLeg} park_after_bridge`)).toBe('true');

    // the agent is talking
    await until(async () => (await cti.acd.engine.agent(agent.id))?.state === 'talking', 5000, 'agent talking');

    // the caller hangs up: CDR and queue events
    await sleep(1000);
    await fs.api(`uuid_kill ${callerLeg}`);
    await until(async () => (await cti.ctx.db.select().from(cdrs).where(eq(cdrs.callUuid, hotlineLeg))).length === 1, 10_000, 'CDR');
    const cdr = (await cti.ctx.db.select().from(cdrs).where(eq(cdrs.callUuid, hotlineLeg)))[0]!;
    expect(cdr).toMatchObject({ tenantId: 'demo', callerNumber: '13800138000', did: '12345', agentId: agent.id, skillGroupId: groupId });
    expect(cdr.agentAnswerAt).toBeInstanceOf(Date);
    expect(cdr.talkMs).toBeGreaterThanOrEqual(900);
    let types: string[] = [];
    await until(async () => {
      types = (await cti.ctx.db.select().from(queueEvents).where(eq(queueEvents.callUuid, hotlineLeg))).map((r) => r.type);
      return ['enqueue', 'offer', 'answer', 'complete'].every((t) => types.includes(t));
    }, 10_000, 'queue events').catch((err: Error) => {
      throw new Error(`${err.message}: ${types.join(',')}`);
    });
    // the agent's SIP leg was hung up with the call
    await until(async () => (await fs.api(`uuid_exists ${agentLeg}`)) === 'false', 5000, 'agent leg gone');
  }, 60_000);
});
