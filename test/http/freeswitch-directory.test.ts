import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildHttpApp } from '../../src/http/app.js';
import { NOT_FOUND_XML, directoryXml, isLoopback } from '../../src/http/freeswitch-directory.js';
import { makeTestContext, createTestTenant, createTestUser, type TestContext, type TestUser } from './fixture.js';

const SECRET = 'xml-curl-secret-for-tests';
let t: TestContext;
let app: FastifyInstance;
let tenantId: string;
let agent: TestUser;
let supervisor: TestUser;

/** what mod_xml_curl posts for a REGISTER challenge */
function form(fields: Record<string, string>): string {
  return new URLSearchParams({ hostname: 'fs1', section: 'directory', tag_name: 'domain', key_name: 'name', ...fields }).toString();
}
const formHeaders = { 'content-type': 'application/x-www-form-urlencoded' };

beforeAll(async () => {
  t = await makeTestContext({ XML_CURL_SECRET: SECRET });
  tenantId = await createTestTenant(t.ctx);
  t.ctx.env.SIP_DEFAULT_TENANT = tenantId; // domains that name no tenant map here
  app = await buildHttpApp(t.ctx);
  agent = await createTestUser(t.ctx, tenantId, 'agent', { extension: '1088' });
  supervisor = await createTestUser(t.ctx, tenantId, 'supervisor');
});
afterAll(async () => {
  await app?.close();
  await t?.close();
});

describe('/freeswitch/directory', () => {
  it("answers an agent's directory entry", async () => {
    const res = await app.inject({
      method: 'POST',
      url: `/freeswitch/directory?token=${SECRET}`,
      headers: formHeaders,
      payload: form({ key_value: '10.0.0.1', user: '1088', domain: '10.0.0.1', action: 'sip_auth', sip_auth_method: 'REGISTER' }),
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/xml');
    expect(res.body).toContain('<document type="freeswitch/xml">');
    expect(res.body).toContain('<domain name="10.0.0.1">');
    expect(res.body).toContain('<user id="1088" cacheable="1800000">');
    expect(res.body).toContain(`<param name="password" value="${agent.sipPassword}"/>`);
    expect(res.body).toContain(`<variable name="hotline_tenant" value="${tenantId}"/>`);
    expect(res.body).toContain(`<variable name="hotline_user_id" value="${agent.id}"/>`);
    expect(res.body).toContain('<variable name="user_context" value="agents"/>');
  });

  it('resolves the tenant from a domain named after it', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/freeswitch/directory',
      headers: { ...formHeaders, authorization: `Basic ${Buffer.from(`freeswitch:${SECRET}`).toString('base64')}` },
      payload: form({ user: '1088', domain: `${tenantId}.hotline.example`, action: 'sip_auth' }),
    });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain(`<domain name="${tenantId}.hotline.example">`);
  });

  it('answers the standard "not found" result for unknown users, users without a phone, and gateway lookups', async () => {
    const cases: Record<string, string>[] = [
      { user: '9999', domain: '10.0.0.1', action: 'sip_auth' },
      { user: supervisor.loginId, domain: '10.0.0.1', action: 'sip_auth' },
      { purpose: 'gateways', profile: 'internal' },
      { section: 'dialplan', user: '1088', domain: '10.0.0.1' },
    ];
    for (const fields of cases) {
      const res = await app.inject({ method: 'POST', url: `/freeswitch/directory?token=${SECRET}`, headers: formHeaders, payload: form(fields) });
      expect(res.statusCode).toBe(200);
      expect(res.body).toBe(NOT_FOUND_XML);
    }
    expect(NOT_FOUND_XML).toContain('<result status="not found"/>');
  });

  it('needs the shared secret and refuses non-loopback callers by default', async () => {
    const payload = form({ user: '1088', domain: '10.0.0.1', action: 'sip_auth' });
    const none = await app.inject({ method: 'POST', url: '/freeswitch/directory', headers: formHeaders, payload });
    expect(none.statusCode).toBe(401);
    const wrong = await app.inject({ method: 'POST', url: '/freeswitch/directory?token=nope', headers: formHeaders, payload });
    expect(wrong.statusCode).toBe(401);
    const remote = await app.inject({ method: 'POST', url: `/freeswitch/directory?token=${SECRET}`, headers: formHeaders, payload, remoteAddress: '10.1.2.3' });
    expect(remote.statusCode).toBe(403);
  });

  it('serves remote FreeSWITCH hosts only with XML_CURL_ALLOW_REMOTE and the secret', async () => {
    const payload = form({ user: '1088', domain: '10.0.0.1', action: 'sip_auth' });
    const open = await makeTestContext({ XML_CURL_SECRET: SECRET, XML_CURL_ALLOW_REMOTE: 'true', SIP_DEFAULT_TENANT: tenantId });
    const openApp = await buildHttpApp(open.ctx);
    try {
      const ok = await openApp.inject({ method: 'POST', url: `/freeswitch/directory?token=${SECRET}`, headers: formHeaders, payload, remoteAddress: '10.1.2.3' });
      expect(ok.statusCode).toBe(200);
      expect(ok.body).toContain('<user id="1088" cacheable="1800000">');
      const noSecret = await openApp.inject({ method: 'POST', url: '/freeswitch/directory', headers: formHeaders, payload, remoteAddress: '10.1.2.3' });
      expect(noSecret.statusCode).toBe(401);
    } finally {
      await openApp.close();
      await open.close();
    }
  });

  it('lets a user created through the admin API register at once', async () => {
    const admin = await createTestUser(t.ctx, tenantId, 'admin');
    const loginRes = await app.inject({ method: 'POST', url: '/auth/login', payload: { loginId: admin.loginId, password: admin.password } });
    const created = await app.inject({
      method: 'POST',
      url: '/admin/users',
      headers: { authorization: `Bearer ${loginRes.json().token}` },
      payload: { loginId: `agent-${Date.now()}`, displayName: '新人', role: 'agent', extension: '1099' },
    });
    expect(created.statusCode).toBe(201);
    const res = await app.inject({ method: 'POST', url: `/freeswitch/directory?token=${SECRET}`, headers: formHeaders, payload: form({ user: '1099', domain: 'pbx', action: 'sip_auth' }) });
    expect(res.body).toContain('<user id="1099" cacheable="1800000">');
    expect(res.body).toContain('<variable name="effective_caller_id_name" value="新人"/>');
  });

  it('escapes every value it puts in the XML', () => {
    const xml = directoryXml({
      extension: '1001',
      domain: 'demo',
      sipPassword: 'a"b<c>&d',
      displayName: `王<五>&"'`,
      tenantId: 'demo',
      userId: 'u',
      loginId: 'l',
    });
    expect(xml).toContain('<param name="password" value="a&quot;b&lt;c&gt;&amp;d"/>');
    expect(xml).toContain('value="王&lt;五&gt;&amp;&quot;&apos;"');
  });

  it('lets FreeSWITCH cache the entry only when XML_CURL_USER_CACHE_MS is set (cacheable: its core user cache)', () => {
    const u = { extension: '1001', domain: 'demo', sipPassword: 'p', displayName: 'd', tenantId: 'demo', userId: 'u', loginId: 'l' };
    expect(directoryXml(u)).toContain('<user id="1001">');
    expect(directoryXml({ ...u, switchCacheMs: 0 })).toContain('<user id="1001">');
    expect(directoryXml({ ...u, switchCacheMs: 60_000 })).toContain('<user id="1001" cacheable="60000">');
  });

  it('knows loopback addresses', () => {
    for (const a of ['127.0.0.1', '127.3.2.1', '::1', '::ffff:127.0.0.1']) expect(isLoopback(a)).toBe(true);
    for (const a of ['10.0.0.1', '::ffff:10.0.0.1', '', undefined, '1127.0.0.1']) expect(isLoopback(a)).toBe(false);
  });
});
