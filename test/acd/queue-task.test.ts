import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { startNode, dropPrefix, newPrefix, group, members, ids, loginReady, sleep, TENANT, type TestNode } from './helpers.js';
import { createQueueHandler } from '../../src/acd/queue-task.js';
import { estimateWaitMs, queueAnnouncement } from '../../src/acd/estimate.js';
import { CallGoneError, type CallMedia } from '../../src/calls/media.js';
import type { QueueRequest } from '../../src/ivr/engine.js';

let prefix: string;
let node: TestNode;
beforeEach(async () => {
  prefix = newPrefix();
  node = await startNode(prefix);
});
afterEach(async () => {
  await node.close();
  await dropPrefix(prefix);
});

function fakeMedia(uuid: string) {
  const ops: string[] = [];
  let gone = false;
  const op = async (name: string) => {
    if (gone) throw new CallGoneError(uuid);
    ops.push(name);
  };
  const media: CallMedia = {
    uuid,
    answer: () => op('answer'),
    play: async (file) => (await op(`play:${file}`), { ok: true }),
    collectDigits: async () => ({ digits: null }),
    record: async (o) => ({ path: o.path, durationMs: 0, sizeBytes: 0, endedBy: 'hangup' }),
    startMusic: (s) => op(`music:${s}`),
    stopMusic: () => op('stop-music'),
    setVariable: () => op('set'),
    hangup: () => op('hangup'),
    reject: () => op('reject'),
  };
  return { media, ops, hangUp: () => (gone = true) };
}

function request(groupRef: string, n: number, extra: Partial<QueueRequest> = {}): QueueRequest {
  return {
    tenantId: TENANT, callUuid: randomUUID(), callerNumber: `1390000${n}`, destination: '12345', skillGroup: groupRef, priority: 50,
    flowId: 'main', versionId: 'v1', nodeId: 'to-agent', vars: { business: '咨询' }, requestedAt: new Date(), ...extra,
  };
}

describe('estimated wait and the announcement text', () => {
  it('estimates from handle time and staffed agents', () => {
    expect(estimateWaitMs(1, 5, 1, 120_000)).toBe(0);
    expect(estimateWaitMs(3, 2, 0, 120_000)).toBe(180_000);
    expect(estimateWaitMs(4, 0, 0, null)).toBe(4 * 180_000);
    expect(queueAnnouncement(1, 0)).toBe('您是下一位，马上为您接通，请稍候。');
    expect(queueAnnouncement(4, 150_000)).toBe('您前面还有3位来电，预计等待约3分钟，请耐心等候。');
  });
});

describe('queue task (the IVR queue node)', () => {
  it('plays hold music, announces position and estimated wait every interval, and returns connected', async () => {
    const a = ids(1) as [string];
    const g = group({ members: members(a), announceIntervalMs: 80, musicOnHold: 'local_stream://moh' });
    await node.engine.applyGroup(g);
    const texts: string[] = [];
    const handler = createQueueHandler({
      engine: node.engine,
      resolveGroup: async (_t, ref) => (ref === '综合咨询' ? g.id : null),
      announce: async (media, _p, text) => {
        texts.push(text);
        await media.play(`tts:${text}`);
      },
    });
    await node.engine.enqueue({ callUuid: randomUUID(), tenantId: TENANT, groupId: g.id, callerNumber: '1', priority: 50 });
    await sleep(3); // arrival order has 1 ms resolution
    const m = fakeMedia('c1');
    const req = request('综合咨询', 1);
    const result = handler(req, m.media);
    for (let i = 0; i < 100 && texts.length < 2; i++) await sleep(20);
    expect(texts.length).toBeGreaterThanOrEqual(2);
    expect(texts[0]).toMatch(/^您前面还有1位来电，预计等待约\d+分钟/);
    expect(m.ops[0]).toBe('music:local_stream://moh');
    expect(m.ops).toContain('music:local_stream://moh');
    await loginReady(node.engine, a);
    const first = await node.executor.nextOffer();
    const firstDone = node.engine.outcome(first.callUuid);
    node.executor.settle(first.callUuid, { outcome: 'answered', agentId: a[0] });
    await firstDone;
    await node.engine.callEnded(a[0], first.callUuid, 10, 0);
    const offer = await node.executor.nextOffer((r) => r.callUuid === req.callUuid);
    expect(offer.screenPop).toMatchObject({ callerNumber: '13900001', vars: { business: '咨询' } });
    const n = texts.length;
    node.executor.settle(req.callUuid, { outcome: 'answered', agentId: a[0] });
    expect(await result).toEqual({ kind: 'connected', agentId: a[0] });
    await sleep(120);
    expect(texts.length).toBe(n);
  });

  it("times out after the node's timeout", async () => {
    const g = group({ members: [] });
    await node.engine.applyGroup(g);
    const handler = createQueueHandler({ engine: node.engine });
    const t0 = Date.now();
    expect(await handler(request(g.id, 2, { timeoutMs: 100 }), fakeMedia('c2').media)).toEqual({ kind: 'timeout' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(99);
  });

  it('maps overflow and unknown groups', async () => {
    const g = group({ members: [], maxQueueLength: 1, overflowOnLength: { kind: 'voicemail' } });
    await node.engine.applyGroup(g);
    const handler = createQueueHandler({ engine: node.engine });
    void handler(request(g.id, 3), fakeMedia('c3').media);
    await sleep(20);
    expect(await handler(request(g.id, 4), fakeMedia('c4').media)).toEqual({ kind: 'overflow', reason: 'max_length:voicemail' });
    expect(await handler(request('没有这个组', 5), fakeMedia('c5').media)).toEqual({ kind: 'overflow', reason: 'no_group' });
  });

  it('a caller who hung up (media gone at the next announcement) leaves as caller-gone', async () => {
    const g = group({ members: [], announceIntervalMs: 50 });
    await node.engine.applyGroup(g);
    const handler = createQueueHandler({ engine: node.engine, announce: (media, _p, text) => media.play(text).then(() => {}) });
    const m = fakeMedia('c6');
    const req = request(g.id, 6);
    const p = handler(req, m.media);
    await sleep(20);
    m.hangUp();
    expect(await p).toEqual({ kind: 'caller-gone' });
    expect(await node.engine.position(req.callUuid)).toBeNull();
  });
});
