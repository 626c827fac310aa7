// WebSocket fuzz: the agent socket (/ws/agent) and the wallboard (/ws/wallboard) of the real CTI composition get
// thousands of hostile frames — every command type of src/ws/protocol.ts broken in every way, unknown types,
// invalid JSON, binary frames, frames over the message and frame limits, floods — plus commands aimed at tenant B.
// Expected: one typed `error` (or an `ack`, for a frame that happens to be valid) per frame, never `internal`; the
// socket still answers a ping afterwards; a frame over the size limit closes it cleanly with 1009; the server never
// crashes; tenant B's agents are never reached.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { prepareE2eTenant, startTestCti, until, sleep, type E2eTenant, type StartedCti } from '../e2e/cti-fixture.js';
import { createTestUser, login, type LoggedIn, type TestUser } from '../http/fixture.js';
import { TestClient, type Frame } from '../ws/fixture.js';
import { AGENT_COMMAND_TYPES, WALLBOARD_COMMAND_TYPES, MAX_FRAME_BYTES, MAX_MESSAGE_BYTES, WS_ERRORS } from '../../src/ws/protocol.js';
import { seedTenantData, type TenantData } from './tenants.js';
import { fuzzSeed, hostileValue, makeRng, NOT_UUIDS, SQL_INJECTION, UNICODE, type Rng } from './hostile.js';

/** a burst a socket's token bucket (20/s, burst 40) answers without rate limiting */
const BURST = 30;

type Raw = { data: string | Buffer; binary?: boolean; mustFail: boolean; klass: string };

/** A frame for `type` that would be valid, given plausible ids. */
function validFrame(type: string, ids: { agent: string; group: string }, rng: Rng): Record<string, unknown> {
  const base = { v: 1, type };
  switch (type) {
    case 'sign_in':
      return { ...base, ...rng.pick([{}, { extension: '1001' }, { mobile: '13800138000' }, { endpointId: randomUUID() }]) };
    case 'not_ready':
      return { ...base, reason: rng.pick(['小休', '培训', '忙碌']) };
    case 'answer':
    case 'hangup':
      return rng.chance(0.5) ? base : { ...base, callUuid: randomUUID() };
    case 'send_message':
      return { ...base, to: rng.pick([{ agentId: ids.agent }, { groupId: ids.group }, { all: true }]), text: '请注意排队情况' };
    case 'mark_read':
      return { ...base, upTo: rng.int(0, 1000) };
    case 'force_state':
      return { ...base, agentId: ids.agent, state: rng.pick(['ready', 'not_ready', 'logged_out']), reason: '培训' };
    default:
      return base;
  }
}

/** One hostile frame for `type`; `mustFail` when no reading of the protocol could accept it. */
function hostileFrame(type: string, n: number, rng: Rng, idPool: readonly string[], ids: { agent: string; group: string }): Raw {
  const frame: Record<string, unknown> = { ...validFrame(type, ids, rng), id: `f${n}` };
  const keys = Object.keys(frame).filter((k) => k !== 'v' && k !== 'type' && k !== 'id');
  const roll = rng.int(0, 13);
  // hostile values can be 100k characters: cut them so the frame stays under the frame limit (that one closes the
  // socket, and has its own test); a frame over the message limit must still be refused
  const json = (klass: string, mustFail: boolean): Raw => {
    const data = JSON.stringify(frame, (_k, v: unknown) => (typeof v === 'string' && v.length > 9000 ? v.slice(0, 9000) : Array.isArray(v) && v.length > 1000 ? v.slice(0, 1000) : v));
    return { data, mustFail: mustFail || Buffer.byteLength(data) > MAX_MESSAGE_BYTES, klass };
  };
  switch (roll) {
    case 0:
      frame.v = rng.pick([0, 2, '1', null, 1.5, -1, 1e308]);
      return json('wrong version', true);
    case 1:
      delete frame.v;
      return json('missing version', true);
    case 2:
    {
      const key = rng.pick(['tenantId', 'role', 'agentId', 'constructor', 'x'.repeat(200), '💥']);
      frame[key] = hostileValue(rng, idPool);
      // the schemas are strict: a key the type does not have is refused (agentId is a real field of force_state)
      return json('extra field', !keys.includes(key));
    }
    case 3:
      if (keys.length) {
        frame[rng.pick(keys)] = hostileValue(rng, idPool);
        return json('hostile field value', false);
      }
      frame.type = rng.pick([...SQL_INJECTION, ...UNICODE, 'PING', ' ping', `${type}\u0000`]);
      return json('unknown type', true);
    case 4:
      frame.type = rng.pick(['__proto__', 'constructor', 'transfer', 'eval', '', 'sign-in', 'force_state', 'kick', 'hangup_all']);
      return json('unknown type', false);
    case 5:
      frame.type = hostileValue(rng, idPool);
      return json('type of wrong type', true);
    case 6:
      return { data: rng.pick(['{', '{"v":1,"type":"ping"', "{'v':1}", 'ping', '', ' ', 'null', '[]', '[{"v":1,"type":"ping"}]', '42', '"ping"', 'true', '\u0000', '{"v":1,"type":"ping"}}']), mustFail: true, klass: 'invalid JSON / not an object' };
    case 7:
      return { data: Buffer.from(Array.from({ length: rng.int(1, 512) }, () => rng.int(0, 255))), binary: true, mustFail: true, klass: 'binary frame' };
    case 8:
      // over the message limit but under the frame limit: a typed error, the socket stays
      frame.text = 'x'.repeat(rng.int(MAX_MESSAGE_BYTES + 1, MAX_FRAME_BYTES - 200));
      return json('over the message limit', true);
    case 9:
      frame.id = rng.pick([{}, [], 1, 'x'.repeat(65), null, '']);
      return json('bad request id', false);
    case 10:
      if (type === 'send_message' || type === 'force_state') {
        // tenant B's agents and groups, and ids that belong to nobody
        const target = rng.pick(idPool);
        if (type === 'send_message') frame.to = rng.pick([{ agentId: target }, { groupId: target }, { agentId: rng.pick(NOT_UUIDS) }, { all: false }, { agentId: target, all: true }]);
        else frame.agentId = target;
        return json('tenant B id', true);
      }
      return json('plausible', false);
    case 11:
      if (keys.length) delete frame[rng.pick(keys)];
      return json('missing field', false);
    case 12: {
      // deep nesting inside a field
      const depth = rng.pick([100, 1000, 2000]);
      return { data: JSON.stringify({ ...frame, extra: 0 }).replace('"extra":0', `"extra":${'['.repeat(depth)}${']'.repeat(depth)}`), mustFail: true, klass: 'deep nesting' };
    }
    default:
      return json('plausible', false);
  }
}

describe('WebSocket fuzz: /ws/agent and /ws/wallboard', () => {
  let e: E2eTenant;
  let cti: StartedCti;
  let tenantB: TenantData;
  const agentsA: { user: TestUser; session: LoggedIn }[] = [];
  let supervisorA: { user: TestUser; session: LoggedIn };
  let agentB: { user: TestUser; session: LoggedIn };
  const clients: TestClient[] = [];
  const closeCodes = new Map<TestClient, string>();
  const crashes: unknown[] = [];
  const onCrash = (err: unknown) => crashes.push(err);
  const seed = fuzzSeed();
  const rng = makeRng(seed);
  let wsUrl: string;

  const open = async (path: string, session: LoggedIn): Promise<TestClient> => {
    const c = await TestClient.open(`${wsUrl}${path}`, { token: session.token });
    clients.push(c);
    c.ws.on('close', (code, reason) => closeCodes.set(c, `${code} ${String(reason)}`));
    await c.type('hello');
    // the agent socket's restore ends with the unread messages: later frames are news
    if (path === '/ws/agent') await c.type('messages.unread');
    return c;
  };
  /** a valid ping gets its ack (after the token bucket refills, if a loaded machine bunched the frames up) */
  const pingAck = async (c: TestClient): Promise<Frame> => {
    for (let attempt = 0; ; attempt++) {
      const answer = await c.command('ping');
      if (answer.code !== 'rate_limited' || attempt === 3) return answer;
      await sleep(1100);
    }
  };
  const replies = (c: TestClient) => c.frames.filter((f) => f.type === 'ack' || f.type === 'error');

  /** send raw frames in bursts the rate limit allows, and return one reply per frame (the socket answers in order) */
  async function sendAll(c: TestClient, raws: Raw[]): Promise<Frame[]> {
    const before = replies(c).length;
    for (let i = 0; i < raws.length; i += BURST) {
      const burst = raws.slice(i, i + BURST);
      const t0 = Date.now();
      for (const r of burst) c.ws.send(r.data, { binary: r.binary === true });
      await until(() => replies(c).length >= before + i + burst.length, 20_000, `replies to ${i + burst.length} frames`).catch((err: Error) => {
        const got = replies(c).length - before;
        throw new Error(`${err.message}: readyState ${c.ws.readyState} closed ${closeCodes.get(c) ?? '-'}: ${got} replies; frame ${got}: ${String(raws[got]?.data).slice(0, 200)}; last: ${JSON.stringify(c.frames.slice(-3)).slice(0, 600)}`);
      });
      // refill the token bucket (20 per second) before the next burst
      await sleep(Math.max(0, 1600 - (Date.now() - t0)));
    }
    return replies(c).slice(before);
  }

  beforeAll(async () => {
    process.on('unhandledRejection', onCrash);
    process.on('uncaughtException', onCrash);
    e = await prepareE2eTenant({ agentCount: 1 });
    cti = await startTestCti(e);
    wsUrl = cti.url!.replace(/^http/, 'ws');
    for (let i = 0; i < 6; i++) {
      const user = await createTestUser(cti.ctx, e.tenant, 'agent');
      agentsA.push({ user, session: await login(cti.app, user.loginId, user.password) });
    }
    const sup = await createTestUser(cti.ctx, e.tenant, 'supervisor');
    supervisorA = { user: sup, session: await login(cti.app, sup.loginId, sup.password) };
    tenantB = await seedTenantData(cti.ctx, { tag: '乙' });
    const b = tenantB.users.find((u) => u.extension)!;
    agentB = { user: b, session: await login(cti.app, b.loginId, b.password) };
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await cti?.close();
    await e?.close();
    process.off('unhandledRejection', onCrash);
    process.off('uncaughtException', onCrash);
  });

  it('answers every hostile frame of every command type with one typed reply, and stays usable', async () => {
    console.log(`[ws-fuzz] seed ${seed} (replay with FUZZ_SEED=${seed})`);
    const started = Date.now();
    const b = await open('/ws/agent', agentB.session);
    const bFramesBefore = b.frames.length;
    const idPool = [...tenantB.ids, randomUUID()];
    const ids = { agent: agentsA[0]!.user.id, group: e.groups.values().next().value as string };
    const perClass = new Map<string, number>();
    const perCode = new Map<string, number>();
    const problems: string[] = [];
    const fuzzedTypes = new Set<string>();

    // each socket takes a share of the frames; the sockets run side by side
    const plans: { path: string; session: LoggedIn; types: readonly string[]; count: number }[] = [
      ...agentsA.map((a) => ({ path: '/ws/agent', session: a.session, types: AGENT_COMMAND_TYPES, count: 360 })),
      ...[0, 1].map(() => ({ path: '/ws/wallboard', session: supervisorA.session, types: WALLBOARD_COMMAND_TYPES, count: 300 })),
    ];
    let n = 0;
    const results = await Promise.all(
      plans.map(async (plan) => {
        const c = await open(plan.path, plan.session);
        // every known type, in turn, plus unknown ones
        const raws = Array.from({ length: plan.count }, (_, i) => {
          const type = plan.types[i % plan.types.length]!;
          fuzzedTypes.add(`${plan.path.slice(4)}:${type}`);
          return hostileFrame(type, n++, rng, idPool, ids);
        });
        const answers = await sendAll(c, raws);
        raws.forEach((raw, i) => {
          const a = answers[i]!;
          perClass.set(raw.klass, (perClass.get(raw.klass) ?? 0) + 1);
          perCode.set(a.type === 'ack' ? 'ack' : String(a.code), (perCode.get(a.type === 'ack' ? 'ack' : String(a.code)) ?? 0) + 1);
          const shown = `${plan.path} ${raw.klass}: ${String(raw.data).slice(0, 120)} → ${JSON.stringify(a).slice(0, 200)}`;
          if (a.type === 'error') {
            if (!(String(a.code) in WS_ERRORS) || typeof a.message !== 'string' || a.message.length === 0) problems.push(`untyped error: ${shown}`);
            if (a.code === 'internal') problems.push(`internal error: ${shown}`);
          } else if (raw.mustFail) problems.push(`accepted: ${shown}`);
        });
        // still usable: a valid ping gets its ack
        expect(await pingAck(c)).toMatchObject({ type: 'ack' });
        return raws.length;
      }),
    );
    const total = results.reduce((s, x) => s + x, 0);
    console.log(
      `[ws-fuzz] ${total} hostile frames on ${plans.length} sockets in ${Date.now() - started} ms\n` +
        `[ws-fuzz] by input class: ${JSON.stringify(Object.fromEntries([...perClass].sort()))}\n` +
        `[ws-fuzz] by reply: ${JSON.stringify(Object.fromEntries([...perCode].sort()))}`,
    );
    expect(problems.slice(0, 20)).toEqual([]);
    expect(total).toBeGreaterThanOrEqual(2000);
    // every command type was fuzzed, on its socket
    expect([...fuzzedTypes].sort()).toEqual([...new Set([...AGENT_COMMAND_TYPES.map((t) => `agent:${t}`), ...WALLBOARD_COMMAND_TYPES.map((t) => `wallboard:${t}`)])].sort());

    // tenant B's agent heard nothing from tenant A: no message, no state change forced on it
    await sleep(300);
    const bFrames = b.frames.slice(bFramesBefore);
    expect(bFrames.filter((f) => f.type === 'message')).toEqual([]);
    expect(bFrames.filter((f) => f.type === 'agent.state')).toEqual([]);
    const { rows } = await cti.ctx.pool.query('select count(*)::int as n from agent_messages where tenant_id = $1', [tenantB.tenant]);
    expect(rows[0].n).toBe(1);
    expect(crashes).toEqual([]);
  }, 300_000);

  it('refuses commands aimed at tenant B: send_message and force_state', async () => {
    const a = await open('/ws/agent', agentsA[1]!.session);
    const wall = await open('/ws/wallboard', supervisorA.session);
    const b = await open('/ws/agent', agentB.session);
    const before = b.frames.length;
    const bGroup = tenantB.ids[tenantB.users.length]!;
    expect(await a.command('send_message', { to: { agentId: agentB.user.id }, text: '你好' })).toMatchObject({ type: 'error', code: 'agent_not_found' });
    expect(await a.command('send_message', { to: { groupId: bGroup }, text: '你好' })).toMatchObject({ type: 'error', code: 'group_not_found' });
    expect(await wall.command('send_message', { to: { agentId: agentB.user.id }, text: '你好' })).toMatchObject({ type: 'error', code: 'agent_not_found' });
    expect(await wall.command('force_state', { agentId: agentB.user.id, state: 'logged_out' })).toMatchObject({ type: 'error', code: 'agent_not_found' });
    // the same commands inside tenant A work, so the refusals above are about the tenant
    expect(await a.command('send_message', { to: { agentId: agentsA[2]!.user.id }, text: '你好' })).toMatchObject({ type: 'ack' });
    await sleep(300);
    const heard = b.frames.slice(before).filter((f) => f.type === 'message' || f.type === 'agent.state');
    expect(JSON.stringify(heard)).toBe('[]');
  });

  it('a flood of frames is answered (rate limited), and the socket answers a ping once it calms down', async () => {
    const c = await open('/ws/agent', agentsA[3]!.session);
    const before = replies(c).length;
    const FLOOD = 2000;
    for (let i = 0; i < FLOOD; i++) c.ws.send(i % 3 === 0 ? '{"v":1,"type":"ping"}' : i % 3 === 1 ? 'not json' : JSON.stringify({ v: 1, type: 'ready', id: `x${i}` }));
    await until(() => replies(c).length >= before + FLOOD, 30_000, 'a reply to every flooded frame');
    const answers = replies(c).slice(before);
    expect(answers.filter((f) => f.type === 'error' && f.code === 'rate_limited').length).toBeGreaterThan(FLOOD / 2);
    expect(answers.filter((f) => f.type === 'error' && f.code === 'internal')).toEqual([]);
    await sleep(1100);
    expect(await pingAck(c)).toMatchObject({ type: 'ack' });
    const health = await cti.app.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(200);
  }, 60_000);

  it('a frame over the frame limit closes the socket cleanly with 1009; the server goes on', async () => {
    for (const path of ['/ws/agent', '/ws/wallboard']) {
      const c = await open(path, path === '/ws/agent' ? agentsA[4]!.session : supervisorA.session);
      const closed = new Promise<number>((resolve) => c.ws.once('close', (code) => resolve(code)));
      c.ws.send(JSON.stringify({ v: 1, type: 'ping', pad: 'x'.repeat(MAX_FRAME_BYTES + 1) }));
      expect(await closed).toBe(1009);
    }
    // a new socket of the same agent works
    const again = await open('/ws/agent', agentsA[4]!.session);
    expect(await pingAck(again)).toMatchObject({ type: 'ack' });
    expect(crashes).toEqual([]);
  });
});
