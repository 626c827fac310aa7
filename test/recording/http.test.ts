// Recording HTTP routes on the real app (buildHttpApp): Range playback, download, permissions per role and center,
// audit rows, search filters.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { buildHttpApp } from '../../src/http/app.js';
import { Lifecycle } from '../../src/lifecycle.js';
import { auditLog } from '../../src/db/schema/core.js';
import { recordings, recordingAudit, type NewRecording } from '../../src/db/schema/recording.js';
import { recordingRoutes, relativeWavPath, compressedPathFor, parseRange } from '../../src/recording/index.js';
import { makeTestContext, createTestTenant, createTestUser, login, type TestContext, type TestUser, type LoggedIn } from '../http/fixture.js';

describe('recording HTTP routes', () => {
  let t: TestContext;
  let app: FastifyInstance;
  let dir: string;
  let tenantA: string;
  let tenantB: string;
  const users: Record<string, TestUser> = {};
  const auth: Record<string, LoggedIn> = {};
  const groupA = randomUUID();
  const groupB = randomUUID();
  let rec1: string; // agent1, WAV, 2 s, caller 13800000001, group A
  let rec2: string; // agent2, compressed (opus), 7 s, caller 13900000002, group B
  let rec3: string; // agent1, still recording
  let recOther: string; // center B
  let wav1: Buffer;

  async function insertRecording(tenantId: string, values: Partial<NewRecording> & { seconds: number; compressed?: boolean; startedAt: Date }): Promise<string> {
    const id = randomUUID();
    const relative = relativeWavPath(id, tenantId, values.startedAt);
    const wav = path.join(dir, relative);
    await mkdir(path.dirname(wav), { recursive: true });
    execFileSync('sox', ['-n', '-r', '8000', '-b', '16', '-c', '2', wav, 'synth', String(values.seconds), 'sine', '440', 'sine', '880']);
    let compressedPath: string | null = null;
    if (values.compressed) {
      compressedPath = compressedPathFor(relative, 'opus');
      execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-i', wav, '-c:a', 'libopus', '-b:a', '24k', '-f', 'ogg', path.join(dir, compressedPath)]);
      await rm(wav);
    }
    const { seconds, compressed, ...rest } = values;
    await t.ctx.db.insert(recordings).values({
      id,
      tenantId,
      callUuid: randomUUID(),
      legUuid: randomUUID(),
      endedAt: new Date(values.startedAt.getTime() + seconds * 1000),
      durationMs: seconds * 1000,
      wavPath: relative,
      compressedPath,
      format: compressed ? 'opus' : 'wav',
      status: compressed ? 'compressed' : 'stopped',
      ...rest,
    });
    return id;
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'rec-http-'));
    t = await makeTestContext({ RECORDINGS_DIR: dir });
    app = await buildHttpApp(t.ctx, { routes: [recordingRoutes(t.ctx)], lifecycle: new Lifecycle() });
    tenantA = await createTestTenant(t.ctx, '甲中心');
    tenantB = await createTestTenant(t.ctx, '乙中心');
    users.agent1 = await createTestUser(t.ctx, tenantA, 'agent');
    users.agent2 = await createTestUser(t.ctx, tenantA, 'agent');
    users.supervisor = await createTestUser(t.ctx, tenantA, 'supervisor');
    users.admin = await createTestUser(t.ctx, tenantA, 'admin');
    users.department = await createTestUser(t.ctx, tenantA, 'department');
    users.supervisorB = await createTestUser(t.ctx, tenantB, 'supervisor');
    for (const [k, u] of Object.entries(users)) auth[k] = await login(app, u.loginId, u.password);

    rec1 = await insertRecording(tenantA, {
      seconds: 2,
      startedAt: new Date('2026-11-20T02:00:00Z'),
      agentId: users.agent1!.id,
      groupId: groupA,
      callerNumber: '13800000001',
      calleeNumber: '12345',
    });
    rec2 = await insertRecording(tenantA, {
      seconds: 7,
      compressed: true,
      startedAt: new Date('2026-11-21T03:00:00Z'),
      agentId: users.agent2!.id,
      groupId: groupB,
      callerNumber: '13900000002',
      calleeNumber: '12345',
      direction: 'inbound',
    });
    rec3 = await insertRecording(tenantA, {
      seconds: 1,
      startedAt: new Date('2026-11-22T04:00:00Z'),
      agentId: users.agent1!.id,
      groupId: groupA,
      callerNumber: '12345',
      calleeNumber: '13700000003',
      direction: 'outbound',
      status: 'recording',
    });
    recOther = await insertRecording(tenantB, { seconds: 1, startedAt: new Date('2026-11-20T02:00:00Z'), agentId: users.supervisorB!.id, callerNumber: '13800000001' });
    const row = (await t.ctx.db.select().from(recordings).where(eq(recordings.id, rec1)))[0]!;
    wav1 = await readFile(path.join(dir, row.wavPath));
  });

  afterAll(async () => {
    await app.close();
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  const get = (who: string, url: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url, headers: { ...auth[who]!.bearer, ...headers } });

  describe('Range playback', () => {
    it('whole file: 200 with Accept-Ranges and the exact bytes', async () => {
      const res = await get('agent1', `/recordings/${rec1}/audio`);
      expect(res.statusCode).toBe(200);
      expect(res.headers['accept-ranges']).toBe('bytes');
      expect(res.headers['content-type']).toBe('audio/wav');
      expect(Number(res.headers['content-length'])).toBe(wav1.length);
      expect(res.headers['content-disposition']).toMatch(/^inline; filename="recording-\d{14}-[0-9a-f-]+\.wav"$/);
      expect(res.headers['cache-control']).toBe('private, no-store');
      expect(res.rawPayload.equals(wav1)).toBe(true);
    });

    it('first bytes, a middle range and a suffix range: 206 with Content-Range', async () => {
      const first = await get('agent1', `/recordings/${rec1}/audio`, { range: 'bytes=0-99' });
      expect(first.statusCode).toBe(206);
      expect(first.headers['content-range']).toBe(`bytes 0-99/${wav1.length}`);
      expect(first.headers['content-length']).toBe('100');
      expect(first.rawPayload.equals(wav1.subarray(0, 100))).toBe(true);

      const middle = await get('agent1', `/recordings/${rec1}/audio`, { range: 'bytes=10000-19999' });
      expect(middle.statusCode).toBe(206);
      expect(middle.headers['content-range']).toBe(`bytes 10000-19999/${wav1.length}`);
      expect(middle.rawPayload.equals(wav1.subarray(10000, 20000))).toBe(true);

      const open = await get('agent1', `/recordings/${rec1}/audio`, { range: `bytes=${wav1.length - 10}-` });
      expect(open.statusCode).toBe(206);
      expect(open.rawPayload.equals(wav1.subarray(wav1.length - 10))).toBe(true);

      const suffix = await get('agent1', `/recordings/${rec1}/audio`, { range: 'bytes=-500' });
      expect(suffix.statusCode).toBe(206);
      expect(suffix.headers['content-range']).toBe(`bytes ${wav1.length - 500}-${wav1.length - 1}/${wav1.length}`);
      expect(suffix.rawPayload.equals(wav1.subarray(wav1.length - 500))).toBe(true);

      // an end past the file is cut to the file
      const past = await get('agent1', `/recordings/${rec1}/audio`, { range: `bytes=100-${wav1.length + 1000}` });
      expect(past.statusCode).toBe(206);
      expect(past.headers['content-range']).toBe(`bytes 100-${wav1.length - 1}/${wav1.length}`);
    });

    it('416 with Content-Range bytes */size for a range outside the file or a malformed one', async () => {
      for (const range of [`bytes=${wav1.length}-`, `bytes=${wav1.length + 5}-${wav1.length + 10}`, 'bytes=500-100', 'bytes=abc', 'bytes=-0']) {
        const res = await get('agent1', `/recordings/${rec1}/audio`, { range });
        expect(res.statusCode, range).toBe(416);
        expect(res.headers['content-range']).toBe(`bytes */${wav1.length}`);
        expect(res.json()).toMatchObject({ code: 'range_not_satisfiable', message: '请求的播放位置超出录音范围' });
      }
    });

    it('a compressed recording plays as Ogg Opus with ranges too', async () => {
      const res = await get('supervisor', `/recordings/${rec2}/audio`, { range: 'bytes=0-3' });
      expect(res.statusCode).toBe(206);
      expect(res.headers['content-type']).toBe('audio/ogg; codecs=opus');
      expect(res.rawPayload.toString('ascii')).toBe('OggS');
    });

    it('parseRange edge cases', () => {
      expect(parseRange(undefined, 10)).toBeNull();
      expect(parseRange('items=0-1', 10)).toBeNull();
      expect(parseRange('bytes=0-1,4-5', 10)).toBeNull();
      expect(parseRange('bytes=-20', 10)).toEqual({ start: 0, end: 9 });
      expect(parseRange('bytes=0-', 0)).toBe('unsatisfiable');
    });

    it('?download=1 is an attachment; a recording still running is 409', async () => {
      const res = await get('agent1', `/recordings/${rec1}/audio?download=1`);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-disposition']).toMatch(/^attachment; filename="recording-.*\.wav"$/);
      const running = await get('agent1', `/recordings/${rec3}/audio`);
      expect(running.statusCode).toBe(409);
      expect(running.json()).toMatchObject({ code: 'recording_in_progress', message: '录音尚未结束，请稍后再试' });
    });
  });

  describe('permissions', () => {
    it("another center's recording is a 404, exactly like one that does not exist", async () => {
      const other = await get('supervisorB', `/recordings/${rec1}/audio`);
      const missing = await get('supervisorB', `/recordings/${randomUUID()}/audio`);
      expect(other.statusCode).toBe(404);
      expect(other.json()).toEqual(missing.json());
      expect(other.json()).toMatchObject({ code: 'recording_not_found', message: '录音不存在' });
      expect((await get('supervisorB', `/recordings/${rec1}`)).statusCode).toBe(404);
      expect((await get('admin', `/recordings/${recOther}/audio`)).statusCode).toBe(404);
      const search = (await get('supervisorB', '/recordings?number=13800000001')).json();
      expect(search.items.map((r: { id: string }) => r.id)).toEqual([recOther]);
    });

    it("an agent can't play a colleague's call, a supervisor and an admin of the center can", async () => {
      const refused = await get('agent1', `/recordings/${rec2}/audio`);
      expect(refused.statusCode).toBe(403);
      expect(refused.json()).toMatchObject({ code: 'recording_forbidden', message: '只能回放本人接听的通话录音' });
      expect((await get('agent1', `/recordings/${rec2}`)).statusCode).toBe(403);
      expect((await get('agent2', `/recordings/${rec2}/audio`)).statusCode).toBe(200);
      expect((await get('supervisor', `/recordings/${rec1}/audio`)).statusCode).toBe(200);
      expect((await get('admin', `/recordings/${rec2}/audio`)).statusCode).toBe(200);
      expect((await get('department', `/recordings/${rec1}/audio`)).statusCode).toBe(403);
      expect((await app.inject({ method: 'GET', url: `/recordings/${rec1}/audio` })).statusCode).toBe(401);
      expect((await get('supervisor', '/recordings/not-a-uuid/audio')).statusCode).toBe(400);
    });

    it('pause/resume over HTTP follow the same rules (503 without the ESL service)', async () => {
      const post = (who: string, id: string, kind: string) => app.inject({ method: 'POST', url: `/recordings/${id}/${kind}`, headers: auth[who]!.bearer, payload: {} });
      expect((await post('agent2', rec3, 'pause')).statusCode).toBe(403);
      expect((await post('supervisorB', rec3, 'pause')).statusCode).toBe(404);
      const res = await post('agent1', rec3, 'pause');
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ code: 'recording_unavailable', message: '录音服务不可用' });
    });
  });

  it('every playback and download is audited: recording_audit per request, the shared audit log once per user/recording/action', async () => {
    const fresh = await insertRecording(tenantA, { seconds: 1, startedAt: new Date('2026-11-19T01:00:00Z'), agentId: users.agent1!.id });
    await get('supervisor', `/recordings/${fresh}/audio`);
    await get('supervisor', `/recordings/${fresh}/audio`, { range: 'bytes=100-199', 'user-agent': 'test-browser' });
    await get('supervisor', `/recordings/${fresh}/audio?download=1`);
    await get('agent2', `/recordings/${fresh}/audio`); // refused: not audited as a playback
    await app.inject({ method: 'HEAD', url: `/recordings/${fresh}/audio`, headers: auth.supervisor!.bearer });

    const rows = await t.ctx.db.select().from(recordingAudit).where(eq(recordingAudit.recordingId, fresh)).orderBy(recordingAudit.id);
    expect(rows.map((r) => [r.action, r.userId, r.range])).toEqual([
      ['play', users.supervisor!.id, null],
      ['play', users.supervisor!.id, 'bytes=100-199'],
      ['download', users.supervisor!.id, null],
    ]);
    expect(rows[1]!.userAgent).toBe('test-browser');
    expect(rows.every((r) => r.tenantId === tenantA && r.ip)).toBe(true);
    const shared = await t.ctx.db.select().from(auditLog).where(and(eq(auditLog.tenantId, tenantA), eq(auditLog.target, fresh)));
    expect(shared.map((a) => a.action).sort()).toEqual(['recording.download', 'recording.play']);
    expect(shared.every((a) => a.userId === users.supervisor!.id)).toBe(true);
  });

  describe('search', () => {
    const ids = async (who: string, query: string) => {
      const res = await get(who, `/recordings?${query}`);
      expect(res.statusCode, res.body).toBe(200);
      return (res.json().items as { id: string }[]).map((r) => r.id);
    };
    const inWindow = 'from=2026-11-20T00:00:00Z&to=2026-11-23T00:00:00Z';

    it('filters by time, number, caller, callee, agent, group and duration; newest first', async () => {
      expect(await ids('supervisor', inWindow)).toEqual([rec3, rec2, rec1]);
      expect(await ids('supervisor', 'from=2026-11-21T00:00:00Z&to=2026-11-21T23:59:59Z')).toEqual([rec2]);
      expect(await ids('supervisor', `${inWindow}&number=13700000003`)).toEqual([rec3]);
      expect(await ids('supervisor', `${inWindow}&number=13800000001`)).toEqual([rec1]);
      expect(await ids('supervisor', `${inWindow}&caller=13900000002`)).toEqual([rec2]);
      expect(await ids('supervisor', `${inWindow}&callee=12345`)).toEqual([rec2, rec1]);
      expect(await ids('supervisor', `${inWindow}&agentId=${users.agent1!.id}`)).toEqual([rec3, rec1]);
      expect(await ids('supervisor', `${inWindow}&groupId=${groupB}`)).toEqual([rec2]);
      expect(await ids('supervisor', `${inWindow}&minDurationMs=1500`)).toEqual([rec2, rec1]);
      expect(await ids('supervisor', `${inWindow}&minDurationMs=1500&maxDurationMs=5000`)).toEqual([rec1]);
      expect(await ids('supervisor', `${inWindow}&status=compressed`)).toEqual([rec2]);
    });

    it('pages with a total', async () => {
      const res = (await get('admin', `/recordings?${inWindow}&pageSize=2&page=2`)).json();
      expect(res).toMatchObject({ total: 3, page: 2, pageSize: 2 });
      expect(res.items.map((r: { id: string }) => r.id)).toEqual([rec1]);
      expect(res.items[0]).not.toHaveProperty('wavPath');
    });

    it("an agent's search only ever returns their own calls", async () => {
      expect(await ids('agent1', inWindow)).toEqual([rec3, rec1]);
      expect(await ids('agent1', `${inWindow}&agentId=${users.agent2!.id}`)).toEqual([rec3, rec1]);
      expect(await ids('agent2', inWindow)).toEqual([rec2]);
    });

    it('bad filters are 400s naming the field', async () => {
      const bad = await get('supervisor', '/recordings?minDurationMs=-1');
      expect(bad.statusCode).toBe(400);
      expect(bad.json().field).toBe('minDurationMs');
      expect((await get('supervisor', '/recordings?from=yesterday')).json().field).toBe('from');
      expect((await get('supervisor', '/recordings?minDurationMs=5000&maxDurationMs=10')).json()).toMatchObject({ field: 'minDurationMs', message: '最短时长不能大于最长时长' });
      expect((await get('supervisor', '/recordings?foo=1')).statusCode).toBe(400);
    });
  });
});
