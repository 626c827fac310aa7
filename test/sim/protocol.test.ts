// The ESL wire protocol over a real TCP socket: greeting, auth, api/bgapi, subscriptions, malformed input, modesl.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createRequire } from 'node:module';
import { startEmulator } from '../../src/sim/index.js';
import type { RunningEmulator } from '../../src/sim/index.js';
import { RawEsl } from './esl-client.js';

let sim: RunningEmulator;
beforeAll(async () => {
  sim = await startEmulator({ heartbeatSec: 0 });
});
afterAll(async () => {
  await sim.close();
});

async function authed(): Promise<RawEsl> {
  const c = new RawEsl(sim.port);
  await c.next((f) => f.headers['Content-Type'] === 'auth/request');
  const r = await c.cmd('auth ClueCon');
  expect(r.headers['Reply-Text']).toBe('+OK accepted');
  return c;
}

describe('ESL protocol (TCP)', () => {
  it('rejects a bad password with -ERR invalid, a disconnect notice, and closes', async () => {
    const c = new RawEsl(sim.port);
    await c.next((f) => f.headers['Content-Type'] === 'auth/request');
    const r = await c.cmd('auth wrong');
    expect(r.headers['Reply-Text']).toBe('-ERR invalid');
    const bye = await c.next();
    expect(bye.headers['Content-Type']).toBe('text/disconnect-notice');
    expect(Buffer.byteLength(bye.body)).toBe(67);
    await new Promise((r2) => setTimeout(r2, 50));
    expect(c.closed).toBe(true);
  });

  it('answers commands before auth with -ERR command not found and stays open', async () => {
    const c = new RawEsl(sim.port);
    await c.next((f) => f.headers['Content-Type'] === 'auth/request');
    expect((await c.cmd('api status')).headers['Reply-Text']).toBe('-ERR command not found');
    expect((await c.cmd('auth ClueCon')).headers['Reply-Text']).toBe('+OK accepted');
    c.close();
  });

  it('gives api/response bodies with a byte-exact Content-Length (UTF-8)', async () => {
    const c = await authed();
    expect((await c.cmd('api global_setvar hotline_name=政务热线')).body).toBe('+OK');
    const r = await c.cmd('api global_getvar hotline_name');
    expect(r.headers['Content-Length']).toBe('12');
    expect(r.body).toBe('政务热线');
    expect((await c.cmd('api eval ${hotline_name}')).body).toBe('政务热线');
    expect((await c.cmd('api nosuchcommand')).body).toBe('-ERR nosuchcommand Command not found!\n');
    expect((await c.cmd('foo bar')).headers['Reply-Text']).toBe('-ERR command not found');
    expect((await c.cmd('api status')).body).toMatch(/^UP 0 years, 0 days/);
    c.close();
  });

  it('bgapi: reply with Job-UUID first, BACKGROUND_JOB only when subscribed; honours a client Job-UUID', async () => {
    const c = await authed();
    const r1 = await c.cmd('bgapi status');
    expect(r1.headers['Reply-Text']).toBe(`+OK Job-UUID: ${r1.headers['Job-UUID']}`);
    await new Promise((r) => setTimeout(r, 100));
    expect(c.frames.some((f) => f.headers['Content-Type']?.startsWith('text/event'))).toBe(false);
    expect((await c.cmd('event json BACKGROUND_JOB')).headers['Reply-Text']).toBe('+OK event listener enabled json');
    const job = c.event('BACKGROUND_JOB');
    const r2 = await c.cmd('bgapi status\nJob-UUID: 11111111-2222-3333-4444-555555555555\n\n');
    expect(r2.headers['Job-UUID']).toBe('11111111-2222-3333-4444-555555555555');
    const e = await job;
    expect(e['Job-UUID']).toBe('11111111-2222-3333-4444-555555555555');
    expect(e['Job-Command']).toBe('status');
    expect(e._body).toMatch(/^UP /);
    c.close();
  });

  it('event plain switches the whole connection to plain; nixevent/noevents/filter replies', async () => {
    const c = await authed();
    await c.cmd('event json BACKGROUND_JOB');
    expect((await c.cmd('event plain CHANNEL_ANSWER')).headers['Reply-Text']).toBe('+OK event listener enabled plain');
    const ev = c.next((f) => f.headers['Content-Type'] === 'text/event-plain');
    await c.cmd('bgapi status');
    const f = await ev;
    expect(f.body).toMatch(/^Event-Name: BACKGROUND_JOB\n/);
    expect(f.body).toMatch(/Event-Date-Local: \d{4}-\d\d-\d\d%20/);
    expect((await c.cmd('nixevent CHANNEL_ANSWER')).headers['Reply-Text']).toBe('+OK events nixed');
    expect((await c.cmd('noevents')).headers['Reply-Text']).toBe('+OK no longer listening for events');
    expect((await c.cmd('filter Unique-ID x')).headers['Reply-Text']).toBe('+OK filter added. [Unique-ID]=[x]');
    expect((await c.cmd('exit')).headers['Reply-Text']).toBe('+OK bye');
    expect((await c.next()).headers['Content-Type']).toBe('text/disconnect-notice');
  });

  it('survives malformed input and keeps serving', async () => {
    const c = await authed();
    c.write(Buffer.from([0xff, 0xfe, 0x00, 0x0a, 0x0a]));
    c.write('sendmsg\n\n');
    c.write('api\n\n');
    c.write('bgapi\n\n');
    c.write('sendmsg 123\ncall-command: execute\nexecute-app-name: playback\n\n');
    c.write('sendmsg abc\nContent-Length: 5\n\nhello');
    c.write('event json NOT_AN_EVENT CUSTOM\n\n');
    c.write(`filter ${'x'.repeat(10000)}\n\n`);
    await new Promise((r) => setTimeout(r, 100));
    // every malformed command got an answer (none crashed the switch)
    expect(c.frames.filter((f) => f.headers['Content-Type'] === 'command/reply' || f.headers['Content-Type'] === 'api/response').length).toBeGreaterThanOrEqual(7);
    c.drain();
    expect((await c.cmd('api uuid_exists 1')).body).toBe('false');
    const other = await authed();
    expect((await other.cmd('api version')).body).toMatch(/^FreeSWITCH Version/);
    c.close();
    other.close();
  });

  it('delivers events to several connections; dropConnections cuts them all', async () => {
    const a = await authed();
    const b = await authed();
    await a.cmd('event json CHANNEL_PARK');
    await b.cmd('event json ALL');
    const pa = a.event('CHANNEL_PARK');
    const pb = b.event('CHANNEL_PARK');
    const caller = sim.world.dial({ from: '13800000009' });
    const [ea, eb] = await Promise.all([pa, pb]);
    expect(ea['Unique-ID']).toBe(eb['Unique-ID']);
    expect(ea['Caller-Caller-ID-Number']).toBe('13800000009');
    caller.hangup();
    sim.emulator.dropConnections();
    await new Promise((r) => setTimeout(r, 50));
    expect(a.closed && b.closed).toBe(true);
  });

  it('works with the modesl client the CTI uses (api, bgapi with Job-UUID)', async () => {
    const require = createRequire(import.meta.url);
    const esl = require('modesl') as { Connection: new (h: string, p: number, pw: string, cb: () => void) => ModeslConn };
    interface ModeslConn {
      api(cmd: string, cb: (res: { getBody(): string }) => void): void;
      bgapi(cmd: string, args: string, cb: (res: { getBody(): string; getHeader(h: string): string }) => void): void;
      events(type: string, list: string, cb: () => void): void;
      disconnect(): void;
      on(ev: string, cb: (e: unknown) => void): void;
    }
    const conn = await new Promise<ModeslConn>((resolve) => {
      const c: ModeslConn = new esl.Connection('127.0.0.1', sim.port, 'ClueCon', () => resolve(c));
      c.on('error', () => undefined);
    });
    const status = await new Promise<string>((r) => conn.api('status', (res) => r(res.getBody())));
    expect(status).toMatch(/^UP /);
    await new Promise<void>((r) => conn.events('json', 'BACKGROUND_JOB', () => r()));
    const job = await new Promise<string>((r) => conn.bgapi('uuid_exists', '00000000-0000-0000-0000-000000000000', (res) => r(res.getBody())));
    expect(job).toBe('false');
    conn.disconnect();
  });
});
