// (b) blacklist: rejected before any answer; (c) after hours: complaint voicemail to a real WAV; (d) the dialplan's
// busy fallback: heard by a caller parked while no CTI runs, cancelled (sched_del) for a call the CTI takes.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { startEmulator, wavDurationMs, DEFAULT_BUSY_PROMPT, type RunningEmulator } from '../../src/sim/index.js';
import { cdrs } from '../../src/db/schema/calls.js';
import { ALWAYS_OPEN } from '../ivr/demo-tenant.js';
import { prepareE2eTenant, startTestCti, until, sleep, hasHeard, type E2eTenant, type StartedCti } from './cti-fixture.js';

describe('one CTI on its emulator: blacklist and after hours', () => {
  let e: E2eTenant;
  let cti: StartedCti;
  beforeAll(async () => {
    e = await prepareE2eTenant({ agentCount: 1 });
    cti = await startTestCti(e);
  }, 30_000);
  afterAll(async () => {
    await cti?.close();
    await e?.close();
  });

  it('(b) a blacklisted caller is rejected without answer (CALL_REJECTED) and the hit is counted', async () => {
    const emu = cti.emulator!;
    await cti.ivr.blacklist.add(e.tenant, { number: '13944445555', reason: '恶意骚扰', createdBy: 'e2e' });
    const events: { name: string; uuid?: string }[] = [];
    const off = emu.emulator.core.subscribe((ev) => events.push({ name: ev.name, uuid: ev.headers['Unique-ID'] }));
    const caller = emu.world.dial({ from: '13944445555', to: '12345' });
    await until(() => caller.ended, 10_000, 'rejected');
    off();
    expect(caller.endCause).toBe('CALL_REJECTED');
    expect(events.filter((x) => x.uuid === caller.uuid).map((x) => x.name)).not.toContain('CHANNEL_ANSWER');
    expect(caller.heard.filter((h) => h.what.startsWith('file:'))).toEqual([]);
    const lines = emu.emulator.commands.map((c) => c.line);
    expect(lines.some((l) => l.includes(`uuid_kill ${caller.uuid} CALL_REJECTED`))).toBe(true);
    await until(async () => (await cti.ivr.blacklist.hits(e.tenant)).some((h) => h.callUuid === caller.uuid), 5000, 'hit row');
    const [entry] = await cti.ivr.blacklist.list(e.tenant);
    expect(entry).toMatchObject({ number: '13944445555', hitCount: 1 });
    await until(async () => (await cti.ctx.db.select().from(cdrs).where(eq(cdrs.callUuid, caller.uuid!))).length === 1, 10_000, 'CDR');
    const [cdr] = await cti.ctx.db.select().from(cdrs).where(eq(cdrs.callUuid, caller.uuid!));
    expect(cdr).toMatchObject({ answerAt: null, hangupCause: 'CALL_REJECTED' });
  }, 30_000);

  it('a caller who hangs up while queued leaves a CDR naming the skill group (per-group abandon rates)', async () => {
    const emu = cti.emulator!;
    const caller = emu.world.dial({ from: '13800001111', to: '12345' });
    await until(() => hasHeard(caller, 'main-menu.wav'), 10_000, 'main menu');
    caller.press('1'); // 咨询: no agent is signed in, so the caller waits
    await until(() => cti.tracker.get(caller.uuid!)?.state === 'queued', 10_000, 'queued');
    await sleep(300);
    caller.hangup();
    await until(async () => (await cti.ctx.db.select().from(cdrs).where(eq(cdrs.callUuid, caller.uuid!))).length === 1, 10_000, 'CDR');
    const [cdr] = await cti.ctx.db.select().from(cdrs).where(eq(cdrs.callUuid, caller.uuid!));
    expect(cdr).toMatchObject({ agentId: null, skillGroupId: e.groups.get('consult') });
  }, 30_000);

  it('(c) after hours: the after-hours flow records a complaint into a real WAV and stores a voicemail row', async () => {
    const emu = cti.emulator!;
    const calendarFile = `${e.dirs.flows}/calendar/${e.tenant}.yaml`;
    fs.writeFileSync(calendarFile, 'official: false\nweekly: {}\n');
    await cti.ivr.calendars.reload(e.tenant);
    try {
      const caller = emu.world.dial({ from: '13800000009', to: '12345' });
      await until(() => hasHeard(caller, 'after-hours-menu.wav'), 10_000, 'after-hours menu');
      caller.press('1');
      await until(() => caller.heard.some((h) => h.what.startsWith('tone')), 10_000, 'beep');
      caller.speak(1500);
      await sleep(1700);
      caller.press('#');
      await until(async () => (await cti.ivr.voicemails.list(e.tenant)).some((v) => v.callUuid === caller.uuid), 10_000, 'voicemail row');
      const vm = (await cti.ivr.voicemails.list(e.tenant)).find((v) => v.callUuid === caller.uuid)!;
      expect(vm).toMatchObject({ callerNumber: '13800000009', category: '投诉举报' });
      expect(fs.existsSync(vm.filePath)).toBe(true);
      expect(wavDurationMs(vm.filePath)).toBeGreaterThan(1000);
      await until(() => caller.ended, 10_000, 'goodbye');
      await until(async () => (await cti.ctx.db.select().from(cdrs).where(eq(cdrs.callUuid, caller.uuid!))).length === 1, 10_000, 'CDR');
      const [cdr] = await cti.ctx.db.select().from(cdrs).where(eq(cdrs.callUuid, caller.uuid!));
      expect(cdr!.ivrPath).toEqual(expect.arrayContaining(['main:check-hours', 'after-hours:complaint-recording']));
    } finally {
      fs.writeFileSync(calendarFile, ALWAYS_OPEN);
      await cti.ivr.calendars.reload(e.tenant);
    }
  }, 40_000);
});

describe('(d) the dialplan busy fallback', () => {
  const SPEED = 4;
  let e: E2eTenant;
  let emu: RunningEmulator;
  let cti: StartedCti | undefined;
  beforeAll(async () => {
    e = await prepareE2eTenant({ agentCount: 1 });
    // a sped-up clock: the 8 s fallback passes in about 2 s
    emu = await startEmulator({ heartbeatSec: 0, speed: SPEED, mediaDurations: Object.fromEntries(e.dirs.promptNames.map((n) => [n, 300])) });
  });
  afterAll(async () => {
    await cti?.close();
    await emu?.close();
    await e?.close();
  });

  it('no CTI: the parked caller hears the busy prompt after 8 s; with the CTI: sched_del, no busy prompt', async () => {
    const orphan = emu.world.dial({ from: '13800000077', to: '12345' });
    const t0 = emu.emulator.clock.now();
    await until(() => orphan.heard.some((h) => h.what.endsWith(DEFAULT_BUSY_PROMPT.split('/').pop()!)), 20_000, 'busy prompt');
    const at = orphan.heard.find((h) => h.what.endsWith('busy-zh.wav'))!.from;
    expect(at - t0).toBeGreaterThanOrEqual(7000);
    orphan.hangup();
    await until(() => orphan.ended);

    cti = await startTestCti(e, { env: { FREESWITCH_ESL: `${emu.host}:${emu.port}`, FREESWITCH_ESL_PASSWORD: emu.password } });
    const caller = emu.world.dial({ from: '13800000078', to: '12345' });
    await until(() => hasHeard(caller, 'welcome.wav'), 10_000, 'welcome');
    expect(emu.emulator.commands.some((c) => c.line.includes(`sched_del ${caller.uuid}`))).toBe(true);
    expect(emu.emulator.scheduler.list().filter((t) => t.group === caller.uuid)).toEqual([]);
    // well past the fallback's 8 s (emulator time)
    await sleep((10_000 / SPEED) | 0);
    expect(caller.heard.some((h) => h.what.endsWith('busy-zh.wav'))).toBe(false);
    expect(caller.ended).toBe(false);
    caller.hangup();
  }, 40_000);
});
