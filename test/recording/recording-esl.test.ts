// RecordingService against the ESL-level FreeSWITCH emulator: the commands it sends, the WAV the switch writes, the
// row it keeps, pause/resume marks, a hang-up ending the recording, and the compression job picking the file up.
import { describe, it, expect, beforeAll, afterAll, beforeEach, afterEach } from 'vitest';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { and, eq } from 'drizzle-orm';
import type pg from 'pg';
import { startEmulator, wavDurationMs, type RunningEmulator } from '../../src/sim/index.js';
import { createPool, createDb, type Db } from '../../src/db/client.js';
import { tenants, users, auditLog } from '../../src/db/schema/core.js';
import { recordings, recordingMarks } from '../../src/db/schema/recording.js';
import { cdrs } from '../../src/db/schema/calls.js';
import { EslCluster, type EslEvent, type EslNode } from '../../src/esl/index.js';
import { RecordingService, RecordingCompressor, RecordingError, recordAgentAnswer, linkCdrRecording, readWavInfo } from '../../src/recording/index.js';
import { TEST_DATABASE_URL, TEST_REDIS_URL, randomPrefix } from '../helpers/env.js';

const log = pino({ level: process.env.TEST_LOG ?? 'silent' });
const until = async (cond: () => boolean | Promise<boolean>, timeoutMs = 8000): Promise<void> => {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('recording on the FreeSWITCH emulator', () => {
  let pool: pg.Pool;
  let db: Db;
  const tenant = `trec${Math.random().toString(36).slice(2, 8)}`;
  let agentId: string;
  let supervisorId: string;
  const groupId = randomUUID();

  beforeAll(async () => {
    pool = createPool(TEST_DATABASE_URL, 4);
    db = createDb(pool);
    await db.insert(tenants).values({ id: tenant, name: '录音测试中心' });
    const mk = async (role: 'agent' | 'supervisor') =>
      (await db.insert(users).values({ tenantId: tenant, loginId: `${tenant}-${role}`, displayName: role, role, passwordHash: 'x' }).returning())[0]!.id;
    agentId = await mk('agent');
    supervisorId = await mk('supervisor');
  });

  afterAll(async () => {
    await pool.end();
  });

  let emu: RunningEmulator;
  let cluster: EslCluster;
  let dir: string;
  let service: RecordingService;
  let compressor: RecordingCompressor | null = null;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'rec-esl-'));
    emu = await startEmulator({ heartbeatSec: 0 });
    cluster = new EslCluster({ nodes: [{ host: emu.host, port: emu.port, name: 'fs1' }], password: emu.password, reconnect: { initialMs: 10, maxMs: 50 }, log });
    cluster.start();
    await cluster.waitConnected(5000);
  });

  afterEach(async () => {
    service?.detach();
    await compressor?.close();
    compressor = null;
    await cluster.stop();
    await emu.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A citizen (440 Hz) answered and bridged to agent phone 1001 (880 Hz); returns both channel uuids. */
  async function talkingCall(from: string): Promise<{ caller: ReturnType<RunningEmulator['world']['dial']>; callUuid: string; agentLeg: string; node: EslNode; phone: ReturnType<RunningEmulator['world']['phone']> }> {
    const caller = emu.world.dial({ from });
    await until(() => !!caller.uuid && !!emu.emulator.channel(caller.uuid));
    const callUuid = caller.uuid!;
    const node = cluster.nodes[0]!;
    await node.bgapi(`uuid_answer ${callUuid}`);
    const agentLeg = randomUUID();
    const phone = emu.world.phone('1001').set({ kind: 'answer', afterMs: 50 });
    await node.bgapi(`originate {origination_uuid=${agentLeg},originate_timeout=10}user/1001 &park()`, { timeoutMs: 10_000 });
    await node.bgapi(`uuid_bridge ${callUuid} ${agentLeg}`);
    await until(() => emu.emulator.channel(callUuid)?.partner === agentLeg || emu.emulator.channel(agentLeg)?.partner === callUuid);
    caller.speak(60_000, 440);
    phone.current()?.speak(60_000, 880);
    return { caller, callUuid, agentLeg, node, phone };
  }

  const commandLines = () => emu.emulator.commands.map((c) => c.line);
  const rowOf = async (id: string) => (await db.select().from(recordings).where(eq(recordings.id, id)))[0]!;

  it('start sets RECORD_STEREO and uuid_record start on the agent leg; stop finalizes the row from RECORD_STOP with the real WAV', async () => {
    service = new RecordingService({ db, esl: cluster, recordingsDir: dir, log }).attach();
    const { callUuid, agentLeg } = await talkingCall('13800000101');
    const id = await service.start({ callUuid, legUuid: agentLeg, tenantId: tenant, agentId, groupId, direction: 'inbound', callerNumber: '13800000101', calleeNumber: '12345' });

    let row = await rowOf(id);
    expect(row).toMatchObject({ tenantId: tenant, callUuid, legUuid: agentLeg, agentId, groupId, callerNumber: '13800000101', calleeNumber: '12345', status: 'recording', channels: 2, fsNode: 'fs1' });
    expect(row.wavPath).toMatch(new RegExp(`^calls/\\d{4}-\\d{2}-\\d{2}/${tenant}/${id}\\.wav$`));
    const abs = path.join(dir, row.wavPath);
    const lines = commandLines();
    const setvar = lines.findIndex((l) => l === `bgapi uuid_setvar ${agentLeg} RECORD_STEREO true`);
    const start = lines.findIndex((l) => l === `bgapi uuid_record ${agentLeg} start ${abs}`);
    expect(setvar).toBeGreaterThanOrEqual(0);
    expect(start).toBeGreaterThan(setvar);

    await sleep(1000);
    const final = await service.stop(id, tenant);
    expect(commandLines()).toContain(`bgapi uuid_record ${agentLeg} stop ${abs}`);
    row = await rowOf(id);
    expect(final?.status).toBe('stopped');
    expect(row.status).toBe('stopped');
    expect(row.endedAt).not.toBeNull();
    expect(row.durationMs).toBeGreaterThanOrEqual(900);
    expect(row.durationMs).toBeLessThan(2500);
    const st = await stat(abs);
    expect(row.sizeBytes).toBe(st.size);
    const info = await readWavInfo(abs);
    expect(info.channels).toBe(2);
    expect(info.sampleRate).toBe(8000);
    expect(Math.abs(info.durationMs - row.durationMs!)).toBeLessThanOrEqual(20);
    expect(Math.abs((wavDurationMs(abs) ?? -1000) - row.durationMs!)).toBeLessThanOrEqual(20);
    // stereo as trace 12b: channel 1 = the recorded (agent) leg's own voice, channel 2 = its partner, the caller
    const roughHz = (channel: number) => {
      // sox prints `stat` on stderr
      const out = spawnSync('sox', [abs, '-n', 'remix', String(channel), 'stat'], { encoding: 'utf8' }).stderr;
      return Number(/Rough\s+frequency:\s+(\d+)/.exec(out)?.[1]);
    };
    expect(roughHz(1)).toBeGreaterThan(800);
    expect(roughHz(2)).toBeLessThan(500);
  });

  it('a RECORD_STOP without length and size (not what the switch sends, traces 12/12b): the row is finalized from the WAV', async () => {
    service = new RecordingService({ db, esl: cluster, recordingsDir: dir, log }).attach();
    const { callUuid, agentLeg, node } = await talkingCall('13800000109');
    const id = await service.start({ callUuid, legUuid: agentLeg, tenantId: tenant, agentId, groupId, direction: 'inbound', callerNumber: '13800000109', calleeNumber: '12345' });
    const abs = path.join(dir, (await rowOf(id)).wavPath);
    await sleep(600);
    // the service sees only the event handed to it below, stripped of the switch's figures
    service.detach();
    const stopped = new Promise<EslEvent>((resolve) => cluster.on('event', (e) => e.name === 'RECORD_STOP' && resolve(e)));
    await node.bgapi(`uuid_record ${agentLeg} stop ${abs}`);
    const ev = await stopped;
    const { variable_record_ms: _ms, variable_record_file_size: _size, ...headers } = ev.headers;
    service.handleEvent({ ...ev, headers });
    await until(async () => (await rowOf(id)).status === 'stopped');
    const row = await rowOf(id);
    const info = await readWavInfo(abs);
    expect(row.sizeBytes).toBe((await stat(abs)).size);
    expect(row.durationMs).toBe(info.durationMs);
    expect(row.durationMs).toBeGreaterThanOrEqual(400);
  });

  it('pause/resume send uuid_record mask/unmask and log who and when (marks + audit); double pause is refused', async () => {
    service = new RecordingService({ db, esl: cluster, recordingsDir: dir, log }).attach();
    const { callUuid, agentLeg } = await talkingCall('13800000102');
    const id = await service.start({ callUuid, legUuid: agentLeg, tenantId: tenant, agentId });
    const abs = path.join(dir, (await rowOf(id)).wavPath);
    await sleep(300);
    await service.pause(id, tenant, { userId: agentId, reason: '客户提供银行卡号' });
    await expect(service.pause(id, tenant, { userId: agentId })).rejects.toMatchObject({ code: 'recording_already_paused', httpStatus: 409 });
    expect(await service.isPaused(id)).toBe(true);
    await sleep(300);
    await service.resume(id, tenant, { userId: supervisorId });
    await expect(service.resume(id, tenant, {})).rejects.toBeInstanceOf(RecordingError);

    const lines = commandLines();
    expect(lines).toContain(`bgapi uuid_record ${agentLeg} mask ${abs}`);
    expect(lines).toContain(`bgapi uuid_record ${agentLeg} unmask ${abs}`);
    expect(lines.indexOf(`bgapi uuid_record ${agentLeg} mask ${abs}`)).toBeLessThan(lines.indexOf(`bgapi uuid_record ${agentLeg} unmask ${abs}`));
    const marks = await db.select().from(recordingMarks).where(eq(recordingMarks.recordingId, id)).orderBy(recordingMarks.id);
    expect(marks.map((m) => [m.kind, m.userId, m.reason])).toEqual([
      ['pause', agentId, '客户提供银行卡号'],
      ['resume', supervisorId, null],
    ]);
    expect(marks[0]!.offsetMs).toBeGreaterThanOrEqual(200);
    expect(marks[1]!.offsetMs - marks[0]!.offsetMs).toBeGreaterThanOrEqual(250);
    const audits = await db.select().from(auditLog).where(and(eq(auditLog.tenantId, tenant), eq(auditLog.target, id)));
    expect(audits.map((a) => a.action).sort()).toEqual(['recording.pause', 'recording.resume']);
    expect(audits.find((a) => a.action === 'recording.pause')!.userId).toBe(agentId);
  });

  it('a hang-up ends the recording by itself (RECORD_STOP), the hook links the CDR, and the compression job replaces the WAV', async () => {
    const prefix = randomPrefix('rec');
    compressor = new RecordingCompressor({ db, redisUrl: TEST_REDIS_URL, prefix, recordingsDir: dir, log, backoffMs: 100 });
    service = new RecordingService({ db, esl: cluster, recordingsDir: dir, log, compression: compressor }).attach();
    const { callUuid, agentLeg, caller } = await talkingCall('13800000103');
    const session = {
      uuid: callUuid,
      tenantId: tenant,
      direction: 'inbound' as const,
      callerNumber: '13800000103',
      calleeNumber: '12345',
      agentId,
      skillGroupId: groupId,
      recordingId: undefined as string | undefined,
      setRecordingId(rid: string | undefined) {
        this.recordingId = rid;
      },
      log,
    };
    const id = await recordAgentAnswer(service, session, agentLeg);
    expect(id).toBeTruthy();
    expect(session.recordingId).toBe(id);
    await sleep(800);
    caller.hangup();
    // generous: ffmpeg competes with the other test files for two cores; on failure show the row (compressError)
    await until(async () => (await rowOf(id!)).status === 'compressed', 30_000).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(await rowOf(id!))}`);
    });
    const row = await rowOf(id!);
    expect(row).toMatchObject({ status: 'compressed', format: 'opus', agentId, groupId });
    expect(row.compressedPath).toBe(row.wavPath.replace(/\.wav$/, '.opus'));
    // the row is switched to the compressed file first, the WAV deleted right after
    await until(() => !existsSync(path.join(dir, row.wavPath)));
    expect((await stat(path.join(dir, row.compressedPath!))).size).toBe(row.compressedSizeBytes);
    expect(row.durationMs).toBeGreaterThanOrEqual(700);

    // a CDR written without the id gets it afterwards, once
    await db.insert(cdrs).values({ callUuid, tenantId: tenant, startAt: new Date(), endAt: new Date(), durationMs: 1, finalState: 'talking' });
    expect(await linkCdrRecording(db, tenant, callUuid, id!)).toBe(true);
    expect(await linkCdrRecording(db, tenant, callUuid, randomUUID())).toBe(false);
    expect((await db.select().from(cdrs).where(eq(cdrs.callUuid, callUuid)))[0]!.recordingId).toBe(id);
  });

  it('the switch refusing to record marks the row failed and the hook does not break the call', async () => {
    service = new RecordingService({ db, esl: cluster, recordingsDir: dir, log }).attach();
    const ghostLeg = randomUUID();
    await expect(service.start({ callUuid: ghostLeg, legUuid: ghostLeg, tenantId: tenant, agentId })).rejects.toMatchObject({ code: 'switch_refused' });
    const rows = await db.select().from(recordings).where(eq(recordings.legUuid, ghostLeg));
    expect(rows).toHaveLength(1);
    expect(rows[0]!.status).toBe('failed');
    const session = { uuid: ghostLeg, tenantId: tenant, direction: 'inbound' as const, recordingId: undefined, setRecordingId() {}, log };
    expect(await recordAgentAnswer(service, session, randomUUID())).toBeNull();
  });

  it('a RECORD_STOP missed while no CTI listened: sweepOrphans finalizes from the WAV once the leg is gone', async () => {
    const before = new RecordingService({ db, esl: cluster, recordingsDir: dir, log }).attach();
    const { callUuid, agentLeg, caller } = await talkingCall('13800000104');
    const id = await before.start({ callUuid, legUuid: agentLeg, tenantId: tenant, agentId });
    before.detach(); // the CTI goes away
    await sleep(600);
    caller.hangup();
    await until(() => !emu.emulator.channel(agentLeg));
    expect((await rowOf(id)).status).toBe('recording');

    service = new RecordingService({ db, esl: cluster, recordingsDir: dir, log }).attach();
    // a live recording is left alone
    const live = await talkingCall('13800000105');
    const liveId = await service.start({ callUuid: live.callUuid, legUuid: live.agentLeg, tenantId: tenant, agentId });
    await service.sweepOrphans(0);
    const row = await rowOf(id);
    expect(row.status).toBe('stopped');
    expect(row.durationMs).toBeGreaterThanOrEqual(500);
    expect(row.sizeBytes).toBe((await stat(path.join(dir, row.wavPath))).size);
    expect((await rowOf(liveId)).status).toBe('recording');
    expect(commandLines()).toContain(`bgapi uuid_exists ${agentLeg}`);
  });
});
