// A refused WebSocket handshake must not leave its socket open on the server: with a locked cookie session the
// app-wide session guard answers 423 before @fastify/websocket's hooks run, and the lingering socket used to hold
// app.close() (and so a node's drain) forever.
import { expect, it } from 'vitest';
import { randomPrefix } from '../helpers/env.js';
import { dropPrefix } from '../acd/helpers.js';
import { startWsServer, TestClient } from './fixture.js';
import { createTestTenant, createTestUser, login } from '../http/fixture.js';

it('closes promptly after refused handshakes (locked via cookie, token, subprotocol; wrong role; foreign origin)', async () => {
  const prefix = randomPrefix('ws');
  const s = await startWsServer(prefix, 'refuse');
  const t = await createTestTenant(s.ctx);
  const agent = await createTestUser(s.ctx, t, 'agent');
  const open = await login(s.app, agent.loginId, agent.password);
  const locked = await login(s.app, agent.loginId, agent.password);
  await s.app.inject({ method: 'POST', url: '/auth/lock', headers: locked.bearer });
  const statuses = [];
  for (const attempt of [
    () => TestClient.open(`${s.url}/ws/agent`, { headers: { cookie: locked.cookie } }),
    () => TestClient.open(`${s.url}/ws/agent`, { token: locked.token }),
    () => TestClient.open(`${s.url}/ws/agent`, { protocols: ['hotline.v1', `bearer.${locked.token}`] }),
    () => TestClient.open(`${s.url}/ws/wallboard`, { token: open.token }),
    () => TestClient.open(`${s.url}/ws/agent`, { headers: { cookie: open.cookie, origin: 'https://evil.example' } }),
  ]) {
    statuses.push(await attempt().then(() => 101, (e: { statusCode?: number }) => e.statusCode));
  }
  expect(statuses).toEqual([423, 423, 423, 403, 403]);
  const t0 = Date.now();
  const closed = await Promise.race([s.close().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
  expect(closed).toBe(true);
  expect(Date.now() - t0).toBeLessThan(3000);
  await dropPrefix(prefix);
});
