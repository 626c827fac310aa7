// The IVR runtime against PostgreSQL and Redis: blacklist screening before answer, the demo flows with real
// stores (after-hours complaint → voicemail row + WAV served to a supervisor; survey → summary), the admin API
// for flows/versions/load errors/reload, and /healthz reporting a refused edit.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { IvrRuntime } from '../../src/ivr/runtime.js';
import { buildHttpApp } from '../../src/http/app.js';
import { makeTestContext, createTestTenant, createTestUser, login, type TestContext, type LoggedIn } from '../http/fixture.js';
import { ScriptedMedia } from './scripted-media.js';
import type { TtsProvider } from '../../src/tts/provider.js';
import { prepareDemoTenant } from './demo-tenant.js';

let t: TestContext;
let app: FastifyInstance;
let ivr: IvrRuntime;
let tenant: string;
let flowsDir: string;
let admin: LoggedIn;
let supervisor: LoggedIn;

const fakeTts: TtsProvider = { id: 'fake', render: async (text, out) => fs.writeFileSync(out, `RIFF${text}`) };

beforeAll(async () => {
  const probe = await makeTestContext();
  tenant = await createTestTenant(probe.ctx);
  await probe.close();
  const dirs = prepareDemoTenant(tenant);
  flowsDir = dirs.flows;
  t = await makeTestContext({ IVR_FLOWS_DIR: dirs.flows, PROMPTS_DIR: dirs.prompts, RECORDINGS_DIR: dirs.recordings });
  ivr = new IvrRuntime(t.ctx, { ttsProvider: fakeTts, watch: false });
  await ivr.start();
  app = await buildHttpApp(t.ctx, { routes: ivr.routes(), health: [ivr.health()] });
  const [a, s] = await Promise.all([createTestUser(t.ctx, tenant, 'admin'), createTestUser(t.ctx, tenant, 'supervisor')]);
  admin = await login(app, a.loginId, a.password);
  supervisor = await login(app, s.loginId, s.password);
});
afterAll(async () => {
  await app?.close();
  await ivr?.stop();
  await t?.close();
});

describe('IvrRuntime', () => {
  it('loads the demo flows for the tenant without errors', async () => {
    expect(ivr.registry.loadErrors).toEqual([]);
    const res = await app.inject({ method: 'GET', url: '/admin/flows', headers: supervisor.bearer });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.flows.map((f: { flowId: string }) => f.flowId).sort()).toEqual(['after-hours', 'main', 'survey', 'ticket-query']);
    expect(body.routes.map((r: { did: string }) => r.did)).toEqual(['12345', '96128']);
    expect(body.loadErrors).toEqual([]);
  });

  it('a blacklisted caller is rejected before answer; others get a runner for the main flow', async () => {
    await ivr.blacklist.add(tenant, { number: '13711112222', reason: '恶意骚扰', createdBy: 'test' });
    const media = new ScriptedMedia([], 'call-bl');
    expect(await ivr.admit(media, '12345', '13711112222')).toEqual({ kind: 'rejected', tenantId: tenant });
    expect(media.ops).toEqual([{ op: 'reject', arg: 'CALL_REJECTED' }]);
    const ok = await ivr.admit(new ScriptedMedia([]), '12345', '13800000001');
    expect(ok.kind === 'run' && ok.flow.id).toBe('main');
    expect((await ivr.admit(new ScriptedMedia([]), '99999', '13800000001')).kind).toBe('no-route');
  });

  it('after hours: a complaint is recorded, stored, listed and played to a supervisor', async () => {
    // today closed for this center, whatever the wall clock says
    const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(new Date());
    await ivr.calendars.setDay(tenant, { date: today, kind: 'closed', name: '测试' }, 'test');
    const media = new ScriptedMedia([{ keys: '1' }, { speak: 12_000, end: 'terminator' }], 'call-vm');
    const admitted = await ivr.admit(media, '12345', '13900001234');
    if (admitted.kind !== 'run') throw new Error('not admitted');
    const nodes: string[] = [];
    const result = await admitted.runner.exec(
      { uuid: 'call-vm', tenantId: tenant, callerNumber: '13900001234', destination: '12345', onNode: (s) => nodes.push(s.node) },
      media,
    );
    expect(result.outcome.kind).toBe('hangup');
    expect(nodes).toContain('complaint-recording');
    const list = await app.inject({ method: 'GET', url: '/admin/voicemails', headers: supervisor.bearer });
    const [vm] = list.json().voicemails;
    expect(vm).toMatchObject({ callerNumber: '13900001234', callUuid: 'call-vm', durationMs: 12_000, category: '投诉举报', endedBy: 'terminator', listenedAt: null });
    expect(result.voicemailIds).toEqual([vm.id]);
    const audio = await app.inject({ method: 'GET', url: vm.audioUrl, headers: supervisor.bearer });
    expect(audio.statusCode).toBe(200);
    expect(audio.headers['content-type']).toBe('audio/wav');
    expect(audio.rawPayload.length).toBe(44 + 12_000 * 16);
    const after = await app.inject({ method: 'GET', url: '/admin/voicemails?unheard=true', headers: supervisor.bearer });
    expect(after.json().voicemails).toEqual([]);
    await ivr.calendars.deleteDay(tenant, today);
  });

  it('the post-call survey stores the rating; the summary counts it', async () => {
    for (const [uuid, key] of [['s1', '1'], ['s2', '1'], ['s3', '3']] as const) {
      await ivr.runSurvey({ uuid, tenantId: tenant, callerNumber: '13800000001', destination: '12345', vars: { 'agent.id': 'agent-9' } }, new ScriptedMedia([{ keys: key }], uuid));
    }
    const res = await app.inject({ method: 'GET', url: '/admin/surveys/summary?survey=satisfaction', headers: supervisor.bearer });
    expect(res.json()).toEqual({ options: [{ key: '1', label: '满意', count: 2 }, { key: '3', label: '不满意', count: 1 }], total: 3 });
  });

  it('a broken edit: reload refuses it, the admin API and /healthz show file:line:column, the version stays', async () => {
    const running = ivr.registry.get(tenant, 'main')!;
    const file = path.join(flowsDir, tenant, 'main.yaml');
    const good = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, good.replace('"9": to-ticket-query', '"9": to-ticket-qeury'));
    const reload = await app.inject({ method: 'POST', url: '/admin/flows/reload', headers: admin.bearer, payload: {} });
    expect(reload.statusCode).toBe(200);
    expect(reload.json()).toMatchObject({ refused: [`${tenant}/main`], changed: [] });
    const errors = await app.inject({ method: 'GET', url: '/admin/flows/errors', headers: supervisor.bearer });
    expect(errors.json().loadErrors[0]).toMatchObject({ file: `${tenant}/main.yaml`, code: 'dangling-target', line: 62, column: 12 });
    const health = await app.inject({ method: 'GET', url: '/healthz' });
    expect(health.json().checks['ivr-flows']).toMatchObject({ ok: false, required: false });
    expect(health.json().checks['ivr-flows'].detail.loadErrors[0]).toContain(`${tenant}/main.yaml:62:12: dangling-target`);
    expect(ivr.registry.get(tenant, 'main')).toBe(running);

    fs.writeFileSync(file, good.replace('欢迎致电', '您好，欢迎致电'));
    const fixed = await app.inject({ method: 'POST', url: '/admin/flows/reload', headers: admin.bearer, payload: {} });
    expect(fixed.json()).toMatchObject({ changed: [`${tenant}/main`], errors: [] });
    const versions = await app.inject({ method: 'GET', url: '/admin/flows/main/versions', headers: supervisor.bearer });
    expect(versions.json().versions.map((v: { version: number }) => v.version)).toEqual([1, 2]);
    expect((await app.inject({ method: 'POST', url: '/admin/flows/reload', headers: supervisor.bearer, payload: {} })).statusCode).toBe(403);
  });
});
