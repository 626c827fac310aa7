// FreeSWITCH keeps each agent's directory entry (XML_CURL_USER_CACHE_MS → `cacheable`), so offers need no xml_curl
// round trip. A user change must then flush the switch's user cache at once: the CTI that made the change sends
// `xml_flush_cache` to its switch, without waiting for Redis to carry the change.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestUser, login } from '../http/fixture.js';
import { prepareE2eTenant, startTestCti, until, type E2eTenant, type StartedCti } from './cti-fixture.js';

let e: E2eTenant;
const started: StartedCti[] = [];

beforeAll(async () => {
  e = await prepareE2eTenant({ agentCount: 1 });
}, 30_000);

afterAll(async () => {
  for (const cti of started) await cti.close();
  await e?.close();
});

async function regeneratePassword(cti: StartedCti, agentId: string): Promise<void> {
  const adminUser = await createTestUser(cti.ctx, e.tenant, 'admin');
  const admin = await login(cti.app, adminUser.loginId, adminUser.password);
  const res = await cti.app.inject({
    method: 'PATCH', url: `/admin/users/${agentId}`, headers: { ...admin.bearer, 'x-csrf-token': admin.csrfToken },
    payload: { regenerateSipPassword: true },
  });
  expect(res.statusCode).toBe(200);
}

const flushes = (cti: StartedCti) => cti.emulator!.emulator.commands.filter((c) => c.line === 'bgapi xml_flush_cache').length;

describe('the switch user cache', () => {
  it('is on by default: flushed when the CTI connects, and at once when a SIP password is regenerated', async () => {
    const cti = await startTestCti(e);
    started.push(cti);
    expect(cti.ctx.env.XML_CURL_USER_CACHE_MS).toBe(1_800_000);
    // on connecting: users may have changed while the CTI was away
    await until(() => flushes(cti) === 1, 2000, 'xml_flush_cache on connect');
    const before = flushes(cti);
    await regeneratePassword(cti, e.agents[0]!.id);
    await until(() => flushes(cti) > before, 2000, 'xml_flush_cache sent to the switch');
  });

  it('with XML_CURL_USER_CACHE_MS=0 nothing is cached, so nothing is flushed', async () => {
    const cti = await startTestCti(e, { env: { XML_CURL_USER_CACHE_MS: '0' } });
    started.push(cti);
    await regeneratePassword(cti, e.agents[0]!.id);
    await new Promise((r) => setTimeout(r, 300));
    expect(flushes(cti)).toBe(0);
  });
});
