// Fault: PostgreSQL down while agents work. Their login sessions are served from the Redis session cache, so they
// keep using REST (go ready / not ready, read their state) on the real composition with a private PostgreSQL; a
// session ended before the outage (logout) stays refused, on the node that ended it and on another one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgInstance } from '../helpers/pg-instance.js';
import { prepareE2eTenant, startTestCti, type E2eTenant, type StartedCti } from '../e2e/cti-fixture.js';
import { login } from '../http/fixture.js';
import { TestClient } from '../ws/fixture.js';

let pg: PgInstance;
let e: E2eTenant;
const ctis: StartedCti[] = [];
let pgStopped = false;

beforeAll(async () => {
  pg = await PgInstance.create();
  e = await prepareE2eTenant({ agentCount: 2, databaseUrl: pg.url });
}, 60_000);
afterAll(async () => {
  if (pgStopped) await pg.start();
  for (const c of ctis) await c.close();
  await e?.close();
  await pg?.destroy();
});

describe('login sessions while PostgreSQL is down', () => {
  it('a signed-in agent goes ready / not ready over REST; a logged-out token is refused on every node', async () => {
    const env = { DATABASE_URL: pg.url, DRAIN_TIMEOUT_MS: '0' };
    const node1 = await startTestCti(e, { env: { ...env, NODE_ID: 'pgs-1' } });
    ctis.push(node1);
    const node2 = await startTestCti(e, { env: { ...env, NODE_ID: 'pgs-2' } });
    ctis.push(node2);
    const [working, leaving] = e.agents as [(typeof e.agents)[0], (typeof e.agents)[0]];
    const agent = await login(node1.app, working.loginId, working.password);
    const signIn = await node1.app.inject({ method: 'POST', url: '/agents/me/sign-in', headers: agent.bearer, payload: {} });
    expect(signIn.statusCode, signIn.body).toBe(200);
    const gone = await login(node1.app, leaving.loginId, leaving.password);
    // used once on the other node too (cached there as well), then logged out on node 1
    expect((await node2.app.inject({ method: 'GET', url: '/agents/me/state', headers: gone.bearer })).statusCode).toBe(200);
    expect((await node1.app.inject({ method: 'POST', url: '/auth/logout', headers: gone.bearer, payload: {} })).statusCode).toBe(200);

    await pg.stop();
    pgStopped = true;
    expect((await node1.app.inject({ method: 'GET', url: '/healthz' })).json()).toMatchObject({ status: 'degraded', checks: { postgres: { ok: false } } });

    // the working agent, on either node
    const ready = await node2.app.inject({ method: 'POST', url: '/agents/me/ready', headers: agent.bearer, payload: {} });
    expect(ready.statusCode, ready.body).toBe(200);
    const state = await node1.app.inject({ method: 'GET', url: '/agents/me/state', headers: agent.bearer });
    expect(state.statusCode, state.body).toBe(200);
    expect(state.json().state).toBe('ready');
    const notReady = await node1.app.inject({ method: 'POST', url: '/agents/me/not-ready', headers: agent.bearer, payload: { reason: 'break' } });
    expect(notReady.statusCode, notReady.body).toBe(200);
    expect((await node2.app.inject({ method: 'GET', url: '/agents/me/state', headers: agent.bearer })).json().state).toBe('not_ready');

    // the desktop's socket (re)connects during the outage too, on the session cache, and its commands work
    const socket = await TestClient.open(`${node2.url!.replace(/^http/, 'ws')}/ws/agent`, { token: agent.token });
    try {
      expect(await socket.command('ready')).toMatchObject({ type: 'ack', state: { state: 'ready' } });
      expect(await socket.command('not_ready', { reason: 'break' })).toMatchObject({ type: 'ack', state: { state: 'not_ready' } });
    } finally {
      socket.ws.close();
    }
    await expect(TestClient.open(`${node2.url!.replace(/^http/, 'ws')}/ws/agent`, { token: gone.token })).rejects.toMatchObject({ statusCode: expect.any(Number) });

    // the logged-out token: no node serves it (no cache entry left; PostgreSQL cannot be asked: 503, never 200)
    for (const node of [node1, node2]) {
      const refused = await node.app.inject({ method: 'POST', url: '/agents/me/ready', headers: gone.bearer, payload: {} });
      expect([401, 503]).toContain(refused.statusCode);
    }
    // nor a token that never existed
    const forged = await node1.app.inject({ method: 'GET', url: '/agents/me/state', headers: { authorization: 'Bearer forged-token' } });
    expect([401, 503]).toContain(forged.statusCode);

    await pg.start();
    pgStopped = false;
    // back: the logged-out token is a plain 401, the agent goes on
    expect((await node2.app.inject({ method: 'GET', url: '/agents/me/state', headers: gone.bearer })).statusCode).toBe(401);
    expect((await node2.app.inject({ method: 'POST', url: '/agents/me/ready', headers: agent.bearer, payload: {} })).statusCode).toBe(200);
  }, 90_000);
});
