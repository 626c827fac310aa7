// Issue #4 on a real FreeSWITCH: a caller dials 12345 into the overlay's context `hotline` (a loopback call, so the
// switch runs the overlay's dialplan: hotline_did, sched_transfer fallback, park), the CTI takes it, plays the
// welcome and the main menu, the caller presses 2 (RFC 2833 DTMF sent on the caller's leg) and the CTI moves the
// call to the 投诉举报 branch (queue `complaint`, hold music). Asserted: the commands the CTI sent, the apps the real
// switch ran and the variables it holds, the DTMF it detected, and the CDR's IVR path.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { cdrs } from '../../src/db/schema/calls.js';
import { queueEvents } from '../../src/db/schema/acd.js';
import { prepareE2eTenant, type E2eTenant, type StartedCti } from '../e2e/cti-fixture.js';
import { realSwitchUp, realSwitchName, SwitchObserver, recordCtiCommands, realPrompts, startCtiOnRealSwitch, dial12345, until, sleep } from './real-switch.js';

const up = await realSwitchUp('ivr-menu.test.ts');

(up ? describe : describe.skip)(`IVR main menu on the real FreeSWITCH at ${realSwitchName}`, () => {
  let e: E2eTenant;
  let cti: StartedCti;
  let fs: SwitchObserver;
  let sent: string[];

  beforeAll(async () => {
    fs = new SwitchObserver();
    await fs.start();
    await fs.hangupAll();
    e = await prepareE2eTenant({ agentCount: 1 });
    realPrompts(e, 1);
    cti = await startCtiOnRealSwitch(e);
    sent = recordCtiCommands(cti);
  }, 30_000);

  afterAll(async () => {
    await fs?.hangupAll();
    await cti?.close();
    await e?.close();
    await fs?.stop();
  });

  it('12345 → welcome → main menu → key 2 → 投诉举报 queue; CDR with the IVR path', async () => {
    const { callerLeg, hotlineLeg } = await dial12345(fs);

    // the overlay's dialplan ran on the hotline leg
    await until(() => fs.apps(hotlineLeg).some((a) => a.startsWith('park')), 5000, 'hotline leg parked');
    expect(fs.apps(hotlineLeg)).toEqual(
      expect.arrayContaining(['set hotline_did=12345', expect.stringMatching(/^sched_transfer \+8 cti_fallback XML hotline$/), 'park']),
    );

    // the CTI takes the call: cancels the fallback timer, answers, plays the welcome then the menu
    await until(() => cti.tracker.get(hotlineLeg) !== undefined, 5000, 'CTI tracks the call');
    await until(() => fs.apps(hotlineLeg).some((a) => a.includes('main-menu.wav')), 10_000, 'main menu played');
    expect(sent).toContain(`sched_del ${hotlineLeg}`);
    const apps = fs.apps(hotlineLeg);
    const welcomeAt = apps.findIndex((a) => a.includes('welcome.wav'));
    expect(welcomeAt).toBeGreaterThan(apps.indexOf('park'));
    expect(apps.findIndex((a) => a.includes('main-menu.wav'))).toBeGreaterThan(welcomeAt);
    expect(fs.of(hotlineLeg, 'CHANNEL_ANSWER')).toHaveLength(1);
    // the switch really played the file (PLAYBACK_START/STOP), it did not just log a missing file
    expect(fs.of(hotlineLeg, 'PLAYBACK_START').some((ev) => (ev.headers['Playback-File-Path'] ?? '').endsWith('welcome.wav'))).toBe(true);

    // the caller presses 2 as RFC 2833 on their leg; the switch detects it on the hotline leg
    await sleep(300);
    expect(await fs.api(`uuid_send_dtmf ${callerLeg} 2`)).toMatch(/^\+OK/);
    await until(() => fs.of(hotlineLeg, 'DTMF').some((ev) => ev.headers['DTMF-Digit'] === '2'), 5000, 'DTMF 2 on the hotline leg');
    const session = cti.tracker.get(hotlineLeg)!;
    await until(() => session.state === 'queued', 10_000, 'queued in 投诉举报');
    // the menu app ran with the keys of the main menu, and the queue put the caller on hold music
    expect(fs.apps(hotlineLeg)).toContainEqual(expect.stringMatching(/^play_and_get_digits 1 1 1 5000 none \S+main-menu\.wav .* \^\[0123459\]\$ 5000$/));
    expect(await fs.api(`uuid_getvar ${hotlineLeg} ivr_main_menu`)).toBe('2');
    await until(() => fs.apps(hotlineLeg).includes('playback local_stream://moh'), 5000, 'hold music on the caller');
    expect(sent).toContain(`uuid_setvar ${hotlineLeg} park_after_bridge true`);
    expect(sent).toContain(`uuid_broadcast ${hotlineLeg} local_stream://moh aleg`);

    // the 8 s fallback never fired: the call is still in the CTI's hands, not in cti_fallback
    await sleep(8500);
    expect(await fs.api(`uuid_getvar ${hotlineLeg} hotline_fallback`)).toMatch(/_undef_/);
    expect(fs.apps(hotlineLeg)).not.toContain('set hotline_fallback=busy');
    const row = (await fs.channels()).find((r) => r.uuid === hotlineLeg);
    expect(row?.callstate).toBe('ACTIVE');

    // the caller hangs up in the queue: one CDR with where they went
    await fs.api(`uuid_kill ${callerLeg}`);
    await until(async () => (await cti.ctx.db.select().from(cdrs).where(eq(cdrs.callUuid, hotlineLeg))).length === 1, 10_000, 'CDR');
    const cdr = (await cti.ctx.db.select().from(cdrs).where(eq(cdrs.callUuid, hotlineLeg)))[0]!;
    expect(cdr).toMatchObject({ tenantId: e.tenant, callerNumber: '13800138000', did: '12345' });
    expect(cdr.ivrPath).toEqual(expect.arrayContaining(['main:welcome', 'main:main-menu', 'main:queue-complaint']));
    expect(cdr.ivrPath.indexOf('main:main-menu')).toBeLessThan(cdr.ivrPath.indexOf('main:queue-complaint'));
    // the queue saw the caller enter 投诉举报 and abandon
    await until(async () => {
      const rows = await cti.ctx.db.select().from(queueEvents).where(eq(queueEvents.callUuid, hotlineLeg));
      return ['enqueue', 'abandon'].every((t) => rows.some((r) => r.type === t && r.groupId === e.groups.get('complaint')));
    }, 10_000, 'enqueue + abandon queue events in 投诉举报');
  }, 60_000);
});
