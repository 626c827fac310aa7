// WsHub.send under backpressure: coalesced figures are skipped (and re-sent on the next tick) while a socket's
// buffer is backed up; a socket hopelessly behind is cut off instead of buffering without bound.
import { describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { WsHub, type WsClient, type HubOptions } from '../../src/ws/hub.js';
import type { AuthUser } from '../../src/auth/sessions.js';

class FakeSocket {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  sent: string[] = [];
  terminated = false;
  send(data: string) {
    this.sent.push(data);
  }
  terminate() {
    this.terminated = true;
    this.readyState = 3;
  }
}

function client(ws: FakeSocket): WsClient {
  const user: AuthUser = { userId: 'u1', tenantId: 't1', role: 'agent', loginId: '1001', displayName: '王芳' };
  return { ws: ws as unknown as WsClient['ws'], user, kind: 'agent', token: 'x', groups: new Set(), alive: true, callUuid: null, lastState: null, resync: new Set(), tokens: 40, refilledAt: Date.now() };
}

const hub = new WsHub({ engine: new EventEmitter(), log: pino({ level: 'silent' }) } as unknown as HubOptions);

describe('backpressure', () => {
  it('skips coalesced figures while backed up and marks them for the next tick', () => {
    const ws = new FakeSocket();
    const c = client(ws);
    expect(hub.send(c, { type: 'queue.stats', groups: [] }, 'queue')).toBe(true);
    ws.bufferedAmount = 512 * 1024;
    expect(hub.send(c, { type: 'queue.stats', groups: [] }, 'queue')).toBe(false);
    expect(c.resync.has('queue')).toBe(true);
    // essential frames still go out
    expect(hub.send(c, { type: 'call.offer', callUuid: 'c1' })).toBe(true);
    ws.bufferedAmount = 0;
    expect(hub.send(c, { type: 'queue.stats', groups: [] }, 'queue')).toBe(true);
    expect(c.resync.has('queue')).toBe(false);
    expect(ws.sent.map((s) => JSON.parse(s).type)).toEqual(['queue.stats', 'call.offer', 'queue.stats']);
    expect(JSON.parse(ws.sent[0]!).v).toBe(1);
  });

  it('cuts off a socket hopelessly behind', () => {
    const ws = new FakeSocket();
    const c = client(ws);
    ws.bufferedAmount = 5 * 1024 * 1024;
    expect(hub.send(c, { type: 'message', message: {} })).toBe(false);
    expect(ws.terminated).toBe(true);
    expect(ws.sent).toEqual([]);
  });
});
