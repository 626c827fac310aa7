import { describe, it, expect, afterEach } from 'vitest';
import { ScriptedEslPeer } from '../helpers/scripted-esl-peer.js';
import { EslCluster, EslNode, backoffDelay } from '../../src/esl/index.js';

const until = async (cond: () => boolean, timeoutMs = 5000): Promise<void> => {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('EslCluster', () => {
  const peers: ScriptedEslPeer[] = [];
  let cluster: EslCluster | undefined;

  afterEach(async () => {
    await cluster?.stop();
    for (const p of peers.splice(0)) await p.close();
  });

  const twoNodes = async (): Promise<[ScriptedEslPeer, ScriptedEslPeer, EslCluster]> => {
    const a = new ScriptedEslPeer();
    const b = new ScriptedEslPeer();
    peers.push(a, b);
    await a.listen();
    await b.listen();
    b.channels = [{ uuid: 'on-b', name: 'sofia/internal/x', state: 'CS_EXECUTE' }];
    cluster = new EslCluster({
      nodes: [
        { host: '127.0.0.1', port: a.port, name: 'fs-a' },
        { host: '127.0.0.1', port: b.port, name: 'fs-b' },
      ],
      password: 'ClueCon',
      reconnect: { initialMs: 5, maxMs: 20 },
    });
    cluster.start();
    await cluster.waitConnected(3000);
    return [a, b, cluster];
  };

  it('knows which node owns a channel from events and resync, and forgets it on CHANNEL_DESTROY', async () => {
    const [a, , c] = await twoNodes();
    await until(() => c.nodeFor('on-b') !== undefined);
    expect(c.nodeFor('on-b')!.name).toBe('fs-b');
    a.sendEvent({ 'Event-Name': 'CHANNEL_CREATE', 'Unique-ID': 'on-a' });
    await until(() => c.nodeFor('on-a') !== undefined);
    expect(c.nodeFor('on-a')!.name).toBe('fs-a');
    a.sendEvent({ 'Event-Name': 'CHANNEL_DESTROY', 'Unique-ID': 'on-a' });
    await until(() => c.nodeFor('on-a') === undefined);
  });

  it('picks the least loaded connected node, round-robin on ties, never a disconnected one', async () => {
    const [a, b, c] = await twoNodes();
    const picks = [c.pickNode().name, c.pickNode().name, c.pickNode().name, c.pickNode().name];
    expect(new Set(picks)).toEqual(new Set(['fs-a', 'fs-b']));
    a.sendEvent({ 'Event-Name': 'HEARTBEAT', 'Session-Count': '500', 'Max-Sessions': '1000', 'Idle-CPU': '90' });
    b.sendEvent({ 'Event-Name': 'HEARTBEAT', 'Session-Count': '10', 'Max-Sessions': '1000', 'Idle-CPU': '95' });
    await until(() => c.health().every((h) => h.lastHeartbeat !== null));
    expect([c.pickNode().name, c.pickNode().name]).toEqual(['fs-b', 'fs-b']);
    await c.byName('fs-b')!.stop();
    expect(c.pickNode().name).toBe('fs-a');
  });

  it('backoff is jittered, grows and is capped', () => {
    const opts = { initialMs: 100, maxMs: 1000, factor: 2 };
    expect(backoffDelay(0, opts, () => 0)).toBe(50);
    expect(backoffDelay(0, opts, () => 1)).toBe(100);
    expect(backoffDelay(3, opts, () => 1)).toBe(800);
    expect(backoffDelay(10, opts, () => 1)).toBe(1000);
    expect(backoffDelay(10, opts, () => 0)).toBe(500);
  });

  it('accepts ready-made nodes', () => {
    const n = new EslNode({ host: '127.0.0.1', port: 1, password: 'x' });
    const c = new EslCluster([n]);
    expect(c.nodes).toEqual([n]);
  });
});
