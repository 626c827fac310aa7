// The assembled module (startRecordingModule) end to end on the emulator and the real HTTP app: an agent pauses and
// resumes their live recording over HTTP, the call ends, the worker compresses it, the agent plays it back.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { startEmulator, type RunningEmulator } from '../../src/sim/index.js';
import { EslCluster } from '../../src/esl/index.js';
import { buildHttpApp } from '../../src/http/app.js';
import { Lifecycle } from '../../src/lifecycle.js';
import { recordings, recordingMarks } from '../../src/db/schema/recording.js';
import { startRecordingModule, type RecordingModule } from '../../src/recording/index.js';
import { makeTestContext, createTestTenant, createTestUser, login, type TestContext } from '../http/fixture.js';

const until = async (cond: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> => {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('recording module on the emulator and the HTTP app', () => {
  let t: TestContext;
  let dir: string;
  let emu: RunningEmulator;
  let cluster: EslCluster;
  let mod: RecordingModule;
  let app: FastifyInstance;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'rec-mod-'));
    t = await makeTestContext({ RECORDINGS_DIR: dir });
    emu = await startEmulator({ heartbeatSec: 0 });
    cluster = new EslCluster({ nodes: [{ host: emu.host, port: emu.port, name: 'fs1' }], password: emu.password, log: t.ctx.log });
    cluster.start();
    await cluster.waitConnected(5000);
    // no start-up housekeeping: it would pick up other test files' rows in the shared test database
    mod = startRecordingModule(t.ctx, cluster, { sweepIntervalMs: 0, housekeepingOnStart: false });
    app = await buildHttpApp(t.ctx, { routes: [mod.routes], lifecycle: new Lifecycle() });
  });

  afterAll(async () => {
    await app.close();
    await mod.close();
    await cluster.stop();
    await emu.close();
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('pause/resume over HTTP, then compressed playback of the finished call', async () => {
    const tenant = await createTestTenant(t.ctx);
    const agent = await createTestUser(t.ctx, tenant, 'agent');
    const colleague = await createTestUser(t.ctx, tenant, 'agent');
    const me = await login(app, agent.loginId, agent.password);
    const other = await login(app, colleague.loginId, colleague.password);

    const caller = emu.world.dial({ from: '13800000201' });
    await until(() => !!caller.uuid && !!emu.emulator.channel(caller.uuid));
    const node = cluster.nodes[0]!;
    await node.bgapi(`uuid_answer ${caller.uuid}`);
    const agentLeg = randomUUID();
    emu.world.phone('1002').set({ kind: 'answer', afterMs: 50 });
    await node.bgapi(`originate {origination_uuid=${agentLeg},originate_timeout=10}user/1002 &park()`, { timeoutMs: 10_000 });
    await node.bgapi(`uuid_bridge ${caller.uuid} ${agentLeg}`);
    caller.speak();
    const id = await mod.service.start({ callUuid: caller.uuid!, legUuid: agentLeg, tenantId: tenant, agentId: agent.id, callerNumber: '13800000201', calleeNumber: '12345' });

    const post = (who: typeof me, kind: string, payload: object = {}) =>
      app.inject({ method: 'POST', url: `/recordings/${id}/${kind}`, headers: who.bearer, payload });
    expect((await post(other, 'pause')).statusCode).toBe(403);
    const paused = await post(me, 'pause', { reason: '身份证号' });
    expect(paused.statusCode, paused.body).toBe(200);
    const again = await post(me, 'pause');
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ code: 'recording_already_paused', message: '录音已暂停' });
    expect((await post(me, 'resume')).statusCode).toBe(200);
    expect((await post(me, 'pause', { bogus: 1 })).statusCode).toBe(400);
    expect(emu.emulator.commands.filter((c) => / (mask|unmask) /.test(c.line)).map((c) => c.line.split(' ')[3])).toEqual(['mask', 'unmask']);

    const live = await app.inject({ method: 'GET', url: `/recordings/${id}/audio`, headers: me.bearer });
    expect(live.statusCode).toBe(409);

    caller.hangup();
    await until(async () => (await t.ctx.db.select().from(recordings).where(eq(recordings.id, id)))[0]!.status === 'compressed');
    const detail = await app.inject({ method: 'GET', url: `/recordings/${id}`, headers: me.bearer });
    expect(detail.json()).toMatchObject({ id, status: 'compressed', format: 'opus', marks: [{ kind: 'pause', reason: '身份证号', userId: agent.id }, { kind: 'resume' }] });
    const audio = await app.inject({ method: 'GET', url: `/recordings/${id}/audio`, headers: { ...me.bearer, range: 'bytes=0-' } });
    expect(audio.statusCode).toBe(206);
    expect(audio.headers['content-type']).toBe('audio/ogg; codecs=opus');
    expect(audio.rawPayload.subarray(0, 4).toString('ascii')).toBe('OggS');
    expect((await t.ctx.db.select().from(recordingMarks).where(eq(recordingMarks.recordingId, id))).length).toBe(2);
    // after the call the recording can no longer be paused
    expect((await post(me, 'pause')).json()).toMatchObject({ code: 'recording_not_active', message: '录音已结束' });
  });
});
