import { describe, expect, it } from 'vitest';
import { EslOfferExecutor, offerResultForCause, type BgapiNode } from '../../src/acd/esl-offer-executor.js';
import { EslCommandError } from '../../src/esl/errors.js';
import type { OfferRequest, OfferedAgent } from '../../src/acd/types.js';

const sip = (id: string, ext: string): OfferedAgent => ({ agentId: id, endpoint: { type: 'sip', address: ext } });
const mobile: OfferedAgent = { agentId: 'm1', endpoint: { type: 'mobile', address: '13700000001', gateway: 'hotline-carrier', confirmKey: '1' } };

function request(agent: OfferedAgent, alsoRing: OfferedAgent[] = [], ac = new AbortController()): OfferRequest {
  return {
    callUuid: '11111111-1111-1111-1111-111111111111', tenantId: 'demo', groupId: 'g', agent, alsoRing, timeoutMs: 20_000,
    screenPop: { callerNumber: '13800000001' }, waitMs: 0, signal: ac.signal,
  };
}

/** a switch that answers originates per the test's rule and records every command */
function fakeSwitch(onOriginate: (cmd: string) => Promise<string>) {
  const sent: string[] = [];
  const node: BgapiNode = {
    async bgapi(cmd) {
      sent.push(cmd);
      if (cmd.startsWith('originate')) return onOriginate(cmd);
      if (cmd.startsWith('uuid_bridge')) return '+OK\n';
      return '+OK\n';
    },
  };
  return { node, sent };
}

const legUuid = (cmd: string, i = 0) => [...cmd.matchAll(/origination_uuid=([0-9a-f-]{36})/g)][i]![1]!;

describe('ESL offer executor', () => {
  it('originates the desk phone with originate_timeout, parks it, then bridges it to the caller', async () => {
    const sw = fakeSwitch(async (cmd) => `+OK ${legUuid(cmd)}\n`);
    const ex = new EslOfferExecutor({ nodeFor: () => sw.node }, { sipDomain: (t) => `${t}.hotline.example` });
    const result = await ex.offer(request(sip('a1', '1001')));
    const [originate, bridge] = sw.sent;
    // the answered leg is named: the call layer attaches it before its bridge event arrives
    expect(result).toEqual({ outcome: 'answered', agentId: 'a1', legUuid: legUuid(originate!) });
    expect(originate).toMatch(/^originate \{originate_timeout=20,ignore_early_media=true,hotline_queue_call=1111.*,origination_caller_id_number=13800000001\}\[origination_uuid=[0-9a-f-]{36},hotline_agent=a1\]user\/1001@demo\.hotline\.example &park\(\)$/);
    expect(bridge).toBe(`uuid_bridge 11111111-1111-1111-1111-111111111111 ${legUuid(originate!)}`);
  });

  it('reaches a mobile agent through the gateway with the confirm key (trace 19); no key is a no-answer', async () => {
    const sw = fakeSwitch(async (cmd) => {
      throw new EslCommandError(cmd, '-ERR NO_ANSWER\n');
    });
    const ex = new EslOfferExecutor({ nodeFor: () => sw.node }, { confirmFile: '/sounds/confirm.wav' });
    expect(await ex.offer(request(mobile))).toEqual({ outcome: 'no_answer', agentId: 'm1' });
    expect(sw.sent[0]).toContain('group_confirm_key=1,group_confirm_file=/sounds/confirm.wav]sofia/gateway/hotline-carrier/13700000001 &park()');
  });

  it('ring-all: one originate with every leg; the leg that answered gets the call', async () => {
    const sw = fakeSwitch(async (cmd) => `+OK ${legUuid(cmd, 2)}\n`);
    const ex = new EslOfferExecutor({ nodeFor: () => sw.node });
    const result = await ex.offer(request(sip('a1', '1001'), [sip('a2', '1002'), sip('a3', '1003')]));
    expect(result).toEqual({ outcome: 'answered', agentId: 'a3', legUuid: legUuid(sw.sent[0]!, 2) });
    expect(sw.sent[0]).toMatch(/user\/1001,\[.*\]user\/1002,\[.*\]user\/1003 &park\(\)$/);
  });

  it('maps hang-up causes', () => {
    expect(offerResultForCause('USER_BUSY')).toBe('rejected');
    expect(offerResultForCause('CALL_REJECTED')).toBe('rejected');
    expect(offerResultForCause('USER_NOT_REGISTERED')).toBe('unreachable');
    expect(offerResultForCause('NO_ANSWER')).toBe('no_answer');
    expect(offerResultForCause('ORIGINATOR_CANCEL')).toBe('caller_gone');
  });

  it('SUBSCRIBER_ABSENT (directory lookup failed) is a missed offer while the switch holds a registration, 话机离线 only without one', async () => {
    /** the originate fails with `cause`; sofia_contact answers `contact` (an Error: the switch did not answer) */
    const fails = (cause: string, contact: string | Error) => {
      const sent: string[] = [];
      const node: BgapiNode = {
        async bgapi(cmd) {
          sent.push(cmd);
          if (cmd.startsWith('originate')) throw new EslCommandError(cmd, `-ERR ${cause}\n`);
          if (cmd.startsWith('sofia_contact')) {
            if (contact instanceof Error) throw contact;
            return contact;
          }
          return '+OK\n';
        },
      };
      return { ex: new EslOfferExecutor({ nodeFor: () => node }, { sipDomain: (t) => t }), sent };
    };
    // xml_curl timed out on the CTI, the phone is registered: count a miss, try the next agent
    const registered = fails('SUBSCRIBER_ABSENT', 'sofia/internal/sip:1001@10.0.0.9:5060');
    expect(await registered.ex.offer(request(sip('a1', '1001')))).toEqual({ outcome: 'no_answer', agentId: 'a1' });
    expect(registered.sent[1]).toBe('sofia_contact */1001@demo');
    const gone = fails('SUBSCRIBER_ABSENT', 'error/user_not_registered');
    expect(await gone.ex.offer(request(sip('a1', '1001')))).toEqual({ outcome: 'unreachable', agentId: 'a1' });
    // the switch could not be asked: nothing proven
    const unknown = fails('SUBSCRIBER_ABSENT', new Error('ESL command timed out'));
    expect(await unknown.ex.offer(request(sip('a1', '1001')))).toEqual({ outcome: 'no_answer', agentId: 'a1' });
    // USER_NOT_REGISTERED comes from sofia's registrations themselves (trace 07 (e)): no second question
    const unregistered = fails('USER_NOT_REGISTERED', 'sofia/internal/sip:1001@10.0.0.9:5060');
    expect(await unregistered.ex.offer(request(sip('a1', '1001')))).toEqual({ outcome: 'unreachable', agentId: 'a1' });
    expect(unregistered.sent).toHaveLength(1);
    // ring-all: offline only if no desk phone among the legs is registered; a mobile's absence is the carrier's word
    const ringAll = fails('SUBSCRIBER_ABSENT', 'error/user_not_registered');
    expect(await ringAll.ex.offer(request(sip('a1', '1001'), [mobile, sip('a2', '1002')]))).toEqual({ outcome: 'unreachable' });
    expect(ringAll.sent.slice(1)).toEqual(['sofia_contact */1001@demo', 'sofia_contact */1002@demo']);
    const mobileOnly = fails('SUBSCRIBER_ABSENT', 'sofia/internal/sip:x@y');
    expect(await mobileOnly.ex.offer(request(mobile))).toEqual({ outcome: 'unreachable', agentId: 'm1' });
    expect(mobileOnly.sent).toHaveLength(1);
  });

  it('a withdrawn offer kills the ringing legs', async () => {
    let fail!: (e: Error) => void;
    const sw = fakeSwitch((cmd) => new Promise((_, rej) => (fail = () => rej(new EslCommandError(cmd, '-ERR ORIGINATOR_CANCEL\n')))));
    const ex = new EslOfferExecutor({ nodeFor: () => sw.node });
    const ac = new AbortController();
    const p = ex.offer(request(sip('a1', '1001'), [], ac));
    await new Promise((r) => setImmediate(r));
    ac.abort();
    fail(new Error());
    expect(await p).toEqual({ outcome: 'caller_gone' });
    expect(sw.sent[1]).toBe(`uuid_kill ${legUuid(sw.sent[0]!)} ORIGINATOR_CANCEL`);
  });

  it('the caller gone when the agent answers: the agent leg is released', async () => {
    const sent: string[] = [];
    const node: BgapiNode = {
      async bgapi(cmd) {
        sent.push(cmd);
        if (cmd.startsWith('originate')) return `+OK ${legUuid(cmd)}\n`;
        if (cmd.startsWith('uuid_bridge')) throw new EslCommandError(cmd, '-ERR No such channel!\n');
        return '+OK\n';
      },
    };
    const ex = new EslOfferExecutor({ nodeFor: () => node });
    expect(await ex.offer(request(sip('a1', '1001')))).toEqual({ outcome: 'caller_gone' });
    expect(sent[2]).toMatch(/^uuid_kill .* ORIGINATOR_CANCEL$/);
    expect(await new EslOfferExecutor({ nodeFor: () => undefined }).offer(request(sip('a1', '1001')))).toEqual({ outcome: 'caller_gone' });
  });
});
