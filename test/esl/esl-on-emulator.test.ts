// The ESL layer against the FreeSWITCH emulator (src/sim): the real wire protocol and the switch's replies.
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { Registry } from 'prom-client';
import { startEmulator, type RunningEmulator } from '../../src/sim/index.js';
import {
  EslNode,
  EslCommandError,
  EslDisconnectedError,
  createPromEslMetrics,
  subscriptionCommand,
  type ChannelRow,
  type EslEvent,
} from '../../src/esl/index.js';

const until = async (cond: () => boolean, timeoutMs = 5000): Promise<void> => {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('EslNode against the emulator', () => {
  let emu: RunningEmulator;
  let node: EslNode;
  let registry: Registry;
  const resyncs: ChannelRow[][] = [];
  const events: EslEvent[] = [];

  beforeEach(async () => {
    emu = await startEmulator({ heartbeatSec: 1, mediaDurations: { '/p/hello.wav': 200 } });
    registry = new Registry();
    resyncs.length = 0;
    events.length = 0;
    node = new EslNode({
      host: emu.host,
      port: emu.port,
      password: emu.password,
      name: 'fs1',
      reconnect: { initialMs: 5, maxMs: 20 },
      metrics: createPromEslMetrics(registry),
    });
    node.on('resync', (rows) => resyncs.push(rows));
    node.on('event', (e) => events.push(e));
    node.start();
    await node.waitConnected(3000);
    await until(() => resyncs.length === 1);
  });

  afterEach(async () => {
    await node.stop();
    await emu.close();
  });

  it('subscribes exactly and gets status, typed errors and job results', async () => {
    const subs = emu.emulator.commands.filter((c) => c.line.startsWith('event'));
    expect(subs.map((c) => c.line)).toEqual([subscriptionCommand()]);
    expect(await node.api('status')).toMatch(/UP /);
    expect(await node.bgapi('status')).toMatch(/UP /);
    const kill = await node.bgapi('uuid_kill 00000000-0000-0000-0000-000000000000').catch((e: unknown) => e);
    expect(kill).toBeInstanceOf(EslCommandError);
    expect((kill as EslCommandError).reply).toBe('-ERR No such channel!\n');
    const absent = await node.bgapi('originate user/1999 &park()').catch((e: unknown) => e);
    expect((absent as EslCommandError).reply).toBe('-ERR SUBSCRIBER_ABSENT\n');
    const bad = await node.execute('00000000-0000-0000-0000-000000000000', 'playback', '/p/hello.wav').catch((e: unknown) => e);
    expect((bad as EslCommandError).reply).toMatch(/^-ERR invalid session id/);
  });

  it('execute on a parked call resolves by Application-UUID; api queries are answered in order', async () => {
    const caller = emu.world.dial({ from: '13800000001' });
    await until(() => events.some((e) => e.name === 'CHANNEL_PARK' && e.uuid === caller.uuid));
    const uuid = caller.uuid!;
    await node.bgapi(`uuid_answer ${uuid}`);
    const appUuid = await node.execute(uuid, 'playback', '/p/hello.wav');
    const done = await node.waitForExecuteComplete(appUuid, { timeoutMs: 3000 });
    expect(done.headers['Application']).toBe('playback');
    expect(done.headers['Application-Response']).toBe('FILE PLAYED');
    const answers = await Promise.all([
      node.api(`uuid_exists ${uuid}`),
      node.api(`uuid_getvar ${uuid} caller_id_number`),
      node.api('uuid_exists 00000000-0000-0000-0000-000000000000'),
      node.api(`uuid_getvar ${uuid} no_such_variable`),
    ]);
    expect(answers).toEqual(['true', '13800000001', 'false', '_undef_']);
    caller.hangup();
  });

  it('reconnects 20 times after the switch drops it, resyncs live channels, and leaks no listeners', async () => {
    const callers = [emu.world.dial({ from: '13800000001' }), emu.world.dial({ from: '13800000002' })];
    await until(() => events.filter((e) => e.name === 'CHANNEL_PARK').length === 2);
    const baseline = node.listenerStats();
    for (let i = 1; i <= 20; i++) {
      emu.emulator.dropConnections();
      await until(() => resyncs.length === i + 1);
    }
    expect(node.health().reconnects).toBe(20);
    expect(node.listenerStats()).toEqual(baseline);
    const last = resyncs.at(-1)!;
    expect(new Set(last.map((r) => r.uuid))).toEqual(new Set(callers.map((c) => c.uuid)));
    expect(last.every((r) => r.application === 'park' && r.direction === 'inbound')).toBe(true);
    const metrics = await registry.getSingleMetricAsString('esl_reconnects_total');
    expect(metrics).toContain('esl_reconnects_total{node="fs1"} 20');
  });

  it('fails pending commands fast when the switch drops the connection', async () => {
    const caller = emu.world.dial({ from: '13800000001' });
    await until(() => events.some((e) => e.name === 'CHANNEL_PARK'));
    await node.bgapi(`uuid_answer ${caller.uuid}`);
    const appUuid = await node.execute(caller.uuid!, 'playback', 'tone_stream://%(1000,0,440);loops=-1');
    const waiting = node.waitForExecuteComplete(appUuid).catch((e: unknown) => e);
    emu.emulator.dropConnections();
    expect(await waiting).toBeInstanceOf(EslDisconnectedError);
  });

  it('reads HEARTBEAT into health()', async () => {
    await until(() => node.health().lastHeartbeat !== null, 3000);
    const h = node.health();
    expect(h.connected).toBe(true);
    expect(h.sessions).toBe(0);
    expect(h.maxSessions).toBeGreaterThan(0);
    expect(h.idleCpu).not.toBeNull();
    expect(h.eventsTotal).toBeGreaterThan(0);
  });
});
