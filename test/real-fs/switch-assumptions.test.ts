// What the emulator (src/sim) assumes about FreeSWITCH and the CTI relies on, checked on a real switch with loopback
// calls only (no CTI): the overlay's fallback timer, DTMF injection, recording masks, park of both legs, broadcast to
// both legs, and conference mute. The same commands run against the emulator in test/sim and test/control.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realSwitchUp, realSwitchName, SwitchObserver, dial12345, until, sleep } from './real-switch.js';

const up = await realSwitchUp('switch-assumptions.test.ts');

(up ? describe : describe.skip)(`emulator assumptions on the real FreeSWITCH at ${realSwitchName}`, () => {
  let fs: SwitchObserver;

  beforeAll(async () => {
    fs = new SwitchObserver();
    await fs.start();
    await fs.hangupAll();
  });

  afterAll(async () => {
    await fs?.hangupAll();
    await fs?.stop();
  });

  it('sched_transfer fallback: the timer group is the hotline (-b) leg uuid, sched_del on it cancels it', async () => {
    const { callerLeg, hotlineLeg } = await dial12345(fs, '13800000001');
    await until(() => fs.apps(hotlineLeg).includes('park'), 5000, 'parked');
    expect(await fs.api(`sched_del ${callerLeg}`)).toBe('+OK Deleted: 0');
    expect(await fs.api(`sched_del ${hotlineLeg}`)).toBe('+OK Deleted: 1');
    await fs.api(`uuid_kill ${callerLeg}`);
  });

  it('uuid_recv_dtmf / uuid_send_dtmf replies; uuid_record mask needs a running recording', async () => {
    const { callerLeg, hotlineLeg } = await dial12345(fs, '13800000002');
    await until(() => fs.apps(hotlineLeg).includes('park'), 5000, 'parked');
    await fs.api(`sched_del ${hotlineLeg}`);
    expect(await fs.api(`uuid_recv_dtmf ${hotlineLeg} 2`)).toBe(`+OK ${hotlineLeg} received DTMF 2.`);
    expect(await fs.api(`uuid_send_dtmf ${hotlineLeg} 3`)).toBe(`+OK ${hotlineLeg} sent DTMF 3.`);
    const wav = `/tmp/real-fs-mask-${hotlineLeg}.wav`;
    await expect(fs.api(`uuid_record ${hotlineLeg} mask ${wav}`)).rejects.toThrow(/Cannot mask recording session/);
    expect(await fs.api(`uuid_record ${hotlineLeg} start ${wav}`)).toMatch(/^\+OK/);
    expect(await fs.api(`uuid_record ${hotlineLeg} mask ${wav}`)).toMatch(/^\+OK/);
    expect(await fs.api(`uuid_record ${hotlineLeg} unmask ${wav}`)).toMatch(/^\+OK/);
    expect(await fs.api(`uuid_record ${hotlineLeg} stop ${wav}`)).toMatch(/^\+OK/);
    await fs.api(`uuid_kill ${callerLeg}`);
  });

  it('uuid_broadcast … both plays on both legs; uuid_transfer -both park inline accepted; conference mute', async () => {
    const { callerLeg, hotlineLeg } = await dial12345(fs, '13800000003');
    await until(() => fs.apps(hotlineLeg).includes('park'), 5000, 'parked');
    await fs.api(`sched_del ${hotlineLeg}`);
    // the two loopback legs are bridged to each other inside mod_loopback; `both` reaches the other (-a) one
    expect(await fs.api(`uuid_broadcast ${hotlineLeg} tone_stream://%(200,0,440) both`)).toBe('+OK Message sent');
    await until(() => fs.of(hotlineLeg, 'PLAYBACK_START').length > 0, 3000, 'broadcast on the hotline leg');
    await sleep(500);
    expect(await fs.api(`uuid_transfer ${hotlineLeg} -both park inline`)).toMatch(/^\+OK/);
    const conf = `rfs-${hotlineLeg.slice(0, 8)}`;
    expect(await fs.api(`uuid_transfer ${hotlineLeg} conference:${conf} inline`)).toMatch(/^\+OK/);
    const list = async () => (await fs.api(`conference ${conf} list`).catch(() => '')).split('\n').filter((l) => l.includes(';')).map((l) => l.split(';'));
    await until(async () => (await list()).length === 1, 5000, 'caller in the conference');
    const [member] = (await list())[0]!;
    expect(await fs.api(`conference ${conf} mute ${member}`)).toBe(`+OK mute ${member}`);
    expect((await list())[0]![5]).not.toMatch(/speak/);
    await fs.api(`uuid_kill ${callerLeg}`);
  });
});
