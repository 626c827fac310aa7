// Socket liveness: a client that stops answering pings is cut off (the agent stays signed in), and an open socket
// whose session is locked or logged out is closed with a typed error.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { randomPrefix } from '../helpers/env.js';
import { dropPrefix } from '../acd/helpers.js';
import { startWsServer, TestClient, type WsServer } from './fixture.js';
import { createTestTenant, createTestUser, login, type TestUser } from '../http/fixture.js';

const prefix = randomPrefix('ws');
let s: WsServer;
let tenant: string;
let agent: TestUser;

beforeAll(async () => {
  s = await startWsServer(prefix, 'live', undefined, { heartbeatMs: 150, reauthMs: 200 });
  tenant = await createTestTenant(s.ctx);
  agent = await createTestUser(s.ctx, tenant, 'agent');
});

afterAll(async () => {
  await s.close();
  await dropPrefix(prefix);
});

const closed = (c: TestClient) => new Promise<{ code: number; at: number }>((resolve) => c.ws.once('close', (code) => resolve({ code, at: Date.now() })));

it('a client answering pings stays; one that stops is closed and stays signed in', async () => {
  const session = await login(s.app, agent.loginId, agent.password);
  const healthy = await TestClient.open(`${s.url}/ws/agent`, { token: session.token });
  // it answers pings until it has signed in (with a 150 ms heartbeat a loaded database could outlast it), then goes silent
  const silent = await TestClient.open(`${s.url}/ws/agent`, { token: session.token, autoPong: false });
  let answering = true;
  silent.ws.on('ping', (data) => {
    if (answering) silent.ws.pong(data);
  });
  await silent.type('messages.unread');
  expect(await silent.command('sign_in')).toMatchObject({ type: 'ack' });
  answering = false;
  const gone = closed(silent);
  const { code } = await gone;
  expect(code).toBe(1006); // terminated, no close handshake
  await new Promise((r) => setTimeout(r, 400));
  expect(healthy.ws.readyState).toBe(healthy.ws.OPEN);
  expect(await healthy.command('ping')).toMatchObject({ type: 'ack' });
  expect((await s.node.engine.agent(agent.id))?.state).toBe('not_ready');
  await healthy.close();
});

it('locking the screen or logging out closes the open sockets of that session with a typed error', async () => {
  const locking = await login(s.app, agent.loginId, agent.password);
  const leaving = await login(s.app, agent.loginId, agent.password);
  const c1 = await TestClient.open(`${s.url}/ws/agent`, { token: locking.token });
  const c2 = await TestClient.open(`${s.url}/ws/agent`, { token: leaving.token });
  const end1 = closed(c1);
  const end2 = closed(c2);
  expect((await s.app.inject({ method: 'POST', url: '/auth/lock', headers: locking.bearer })).statusCode).toBe(200);
  expect((await s.app.inject({ method: 'POST', url: '/auth/logout', headers: leaving.bearer })).statusCode).toBeLessThan(300);
  expect(await c1.type('error')).toMatchObject({ code: 'session_locked', message: '屏幕已锁定，请输入密码解锁' });
  expect(await c2.type('error')).toMatchObject({ code: 'session_ended' });
  expect((await end1).code).toBe(4423);
  expect((await end2).code).toBe(4401);
});
