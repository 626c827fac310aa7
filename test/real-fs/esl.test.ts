// Runs against a real FreeSWITCH when FREESWITCH_ESL (host:port) is reachable; skipped with a notice otherwise.
// Uses only stock dialplan: loopback/9196/default is the stock echo extension, so the A-leg answers and parks.
// FREESWITCH_TEST_DIALSTRING overrides it (e.g. user/1001 for a switch with a registered, auto-answering phone).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type net from 'node:net';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { EslNode, EslCommandError, type ChannelRow } from '../../src/esl/index.js';
import { realSwitchUp, realSwitchName, eslHost as host, eslPort as port, eslPassword as password } from './real-switch.js';
import { until } from '../e2e/cti-fixture.js';

const dialstring = process.env.FREESWITCH_TEST_DIALSTRING ?? 'loopback/9196/default';
const up = await realSwitchUp('esl.test.ts');

(up ? describe : describe.skip)(`real FreeSWITCH at ${realSwitchName}`, () => {
  const log = pino({ level: process.env.TEST_LOG ?? 'silent' });
  let node: EslNode;
  const parked = randomUUID();

  beforeAll(async () => {
    node = new EslNode({ host, port, password, log, reconnect: { initialMs: 50, maxMs: 500 } });
    node.start();
    await node.waitConnected(5000);
  });

  afterAll(async () => {
    await node?.bgapi(`uuid_kill ${parked}`).catch(() => {});
    await node?.stop();
  });

  it('connects, subscribes and answers `status`', async () => {
    const status = await node.api('status');
    expect(status).toMatch(/UP .* years?/);
    expect(status).toMatch(/FreeSWITCH/);
    const viaBgapi = await node.bgapi('status');
    expect(viaBgapi).toMatch(/UP /);
    const err = await node.bgapi('uuid_kill 00000000-0000-0000-0000-000000000000').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EslCommandError);
  });

  it('parks a call and re-adopts it from `show channels` after a reconnect', async () => {
    const job = await node.bgapi(`originate {origination_uuid=${parked},originate_timeout=20}${dialstring} &park()`, { timeoutMs: 25_000 });
    expect(job).toMatch(/^\+OK/);
    expect(await node.api(`uuid_exists ${parked}`)).toBe('true');
    // the switch lists a channel in `show channels` once its core database caught up (~100 ms after the originate)
    await until(async () => (await node.showChannels()).some((r) => r.uuid === parked), 3000, 'the parked call in show channels');
    const resynced = new Promise<ChannelRow[]>((resolve) => node.once('resync', resolve));
    const before = node.health().reconnects;
    // cut the TCP connection under the node, as a network blip would
    (node as unknown as { sock: net.Socket | null }).sock?.destroy();
    const rows = await resynced;
    expect(node.health().reconnects).toBe(before + 1);
    const row = rows.find((r) => r.uuid === parked);
    expect(row).toBeDefined();
    expect(row!.application).toBe('park');
  });
});
