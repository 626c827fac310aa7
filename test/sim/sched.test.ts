// The scheduler on the virtual clock: the default dialplan's CTI fallback (sched_transfer +8 cti_fallback XML hotline,
// then park, as freeswitch-conf/dialplan/hotline.xml), sched_del, and the sched_* API replies of mod_commands.c.
import { describe, it, expect, afterEach } from 'vitest';
import { Emulator, VirtualClock, DEFAULT_BUSY_PROMPT } from '../../src/sim/index.js';
import type { EmulatorOptions, EslEvent, SimLeg } from '../../src/sim/index.js';

const open: Emulator[] = [];
function sim(opts: EmulatorOptions = {}): { emu: Emulator; clock: VirtualClock } {
  const emu = new Emulator({ clock: 'virtual', listen: false, heartbeatSec: 0, ...opts });
  open.push(emu);
  return { emu, clock: emu.clock as VirtualClock };
}
afterEach(async () => {
  for (const e of open.splice(0)) await e.close();
});

/** what a party heard, as [what, ms] (ms rounded to 100) */
function heard(leg: SimLeg): Array<[string, number]> {
  return leg.heard.filter((h) => h.to !== undefined && h.to > h.from && h.what !== 'silence').map((h) => [h.what, Math.round((h.to! - h.from) / 100) * 100]);
}

/** an answered API reply (some replies come on a later tick of the clock) */
async function api(emu: Emulator, clock: VirtualClock, line: string): Promise<string> {
  const p = emu.command(line);
  clock.advance(0);
  return p;
}

describe('CTI fallback of the default dialplan (sched_transfer + park)', () => {
  it('a parked call that no CTI takes is transferred to cti_fallback after 8 s and hears the busy prompt', async () => {
    const { emu, clock } = sim();
    const apps: string[] = [];
    emu.core.subscribe((e: EslEvent) => {
      if (e.name === 'CHANNEL_EXECUTE') apps.push(`${e.get('Application')}(${e.get('Application-Data') ?? ''})`);
    });
    const caller = emu.world.dial({ from: '13800000001' });
    clock.advance(50);
    const uuid = caller.uuid!;
    expect(apps).toEqual(['set(hotline_did=12345)', 'sched_transfer(+8 cti_fallback XML hotline)', 'park()']);
    expect(emu.channel(uuid)?.apps).toEqual(['park']);
    expect(emu.scheduler.list()).toEqual([expect.objectContaining({ id: 1, group: uuid, desc: 'switch_ivr_schedule_transfer' })]);
    expect(await api(emu, clock, `uuid_getvar ${uuid} last_sched_id`)).toBe('1');

    clock.advance(7_900); // the call arrived 20 ms into the epoch second: the task runs at second +8
    expect(emu.channel(uuid)?.apps).toEqual(['park']);
    clock.advance(100);
    const ch = emu.channel(uuid)!;
    expect(ch.destination).toBe('cti_fallback');
    expect(emu.core.channels.get(uuid)!.profile.context).toBe('hotline');
    expect(ch.answerState).toBe('answered');
    expect(emu.scheduler.list()).toEqual([]);
    clock.advance(400);
    expect(caller.hearing()).toBe(`file:${DEFAULT_BUSY_PROMPT}`);
    clock.advance(10_000);
    expect(caller.ended).toBe(true);
    expect(caller.endCause).toBe('NORMAL_CLEARING');
    expect(heard(caller)).toEqual([
      [`file:${DEFAULT_BUSY_PROMPT}`, 3200],
      ['tone:%(350,350,450);loops=8', 5600],
    ]);
    expect(apps.slice(3)).toEqual([
      'log(WARNING hotline: no CTI took ' + uuid + ' (13800000001 to 12345) in time; playing the busy prompt)',
      'set(hotline_fallback=busy)',
      'answer()',
      'sleep(300)',
      `playback(${DEFAULT_BUSY_PROMPT})`,
      'playback(tone_stream://%(350,350,450);loops=8)',
      'hangup(NORMAL_CLEARING)',
    ]);
  });

  it('sched_del <uuid> (the CTI took the call) keeps it parked; replies as mod_commands.c writes them', async () => {
    const { emu, clock } = sim();
    const caller = emu.world.dial({ from: '13800000002' });
    clock.advance(1_000);
    const uuid = caller.uuid!;
    expect(await api(emu, clock, `sched_del ${uuid}`)).toBe('+OK Deleted: 1\n');
    expect(await api(emu, clock, `sched_del ${uuid}`)).toBe('+OK Deleted: 0\n');
    clock.advance(30_000);
    expect(caller.ended).toBe(false);
    expect(emu.channel(uuid)?.apps).toEqual(['park']);
    expect(emu.channel(uuid)?.destination).toBe('12345');
    expect(heard(caller)).toEqual([]);
    caller.hangup();
  });

  it('sched_del <task id> removes one task; the group match is exact', async () => {
    const { emu, clock } = sim();
    const a = emu.world.dial({ from: '13800000003' });
    const b = emu.world.dial({ from: '13800000004' });
    clock.advance(100);
    expect(await api(emu, clock, `sched_del ${a.uuid!.toUpperCase()}`)).toBe('+OK Deleted: 0\n');
    const idB = await api(emu, clock, `uuid_getvar ${b.uuid} last_sched_id`);
    expect(await api(emu, clock, `sched_del ${idB}`)).toBe('+OK Deleted: 1\n');
    expect(await api(emu, clock, 'sched_del 0')).toBe('+OK Deleted: 0\n');
    expect(await api(emu, clock, 'sched_del 999')).toBe('+OK Deleted: 0\n');
    expect(await api(emu, clock, 'sched_del')).toBe('-ERR Invalid syntax\n');
    clock.advance(9_000);
    expect(emu.channel(a.uuid!)?.destination).toBe('cti_fallback');
    expect(emu.channel(b.uuid!)?.destination).toBe('12345');
  });

  it('a call answered and driven by the CTI is still moved if the CTI forgets sched_del (as on the real switch)', async () => {
    const { emu, clock } = sim();
    const caller = emu.world.dial({ from: '13800000005' });
    clock.advance(50);
    const uuid = caller.uuid!;
    const answered = emu.command(`uuid_answer ${uuid}`);
    clock.advance(50); // uuid_answer replies once the 200 OK is out
    expect(await answered).toBe('+OK\n');
    emu.execute(uuid, 'playback', '/opt/fs-switch/sounds/moh.wav');
    clock.advance(7_800);
    expect(caller.hearing()).toBe('file:/opt/fs-switch/sounds/moh.wav');
    clock.advance(400);
    expect(emu.channel(uuid)?.destination).toBe('cti_fallback');
    expect(caller.hearing()).toBe(`file:${DEFAULT_BUSY_PROMPT}`);
  });

  it('the task of a call that hung up does nothing, and sched_del still counts it until it has run', async () => {
    const { emu, clock } = sim();
    const c1 = emu.world.dial({ from: '13800000006' });
    const c2 = emu.world.dial({ from: '13800000007' });
    clock.advance(100);
    const u1 = c1.uuid!;
    c1.hangup();
    c2.hangup();
    clock.advance(100);
    expect(await api(emu, clock, `sched_del ${u1}`)).toBe('+OK Deleted: 1\n');
    clock.advance(8_000);
    expect(emu.scheduler.list()).toEqual([]);
    expect(emu.channels()).toEqual([]);
  });

  it('parkFallback: the delay is an option; false parks like the traces rig (no sched_transfer)', async () => {
    const fast = sim({ parkFallback: { afterSec: 3, prompt: '/p/busy.wav' }, mediaDurations: { '/p/busy.wav': 1000 } });
    const c1 = fast.emu.world.dial({ from: '13800000008' });
    fast.clock.advance(2_900);
    expect(fast.emu.channel(c1.uuid!)?.destination).toBe('12345');
    fast.clock.advance(500);
    expect(c1.hearing()).toBe('file:/p/busy.wav');

    const off = sim({ parkFallback: false });
    const apps: string[] = [];
    off.emu.core.subscribe((e: EslEvent) => {
      if (e.name === 'CHANNEL_EXECUTE') apps.push(e.get('Application') ?? '');
    });
    const c2 = off.emu.world.dial({ from: '13800000009', to: '96001' });
    off.clock.advance(60_000);
    expect(apps).toEqual(['park']);
    expect(off.emu.scheduler.list()).toEqual([]);
    expect(c2.ended).toBe(false);
  });

  it('ADD_SCHEDULE / DEL_SCHEDULE events carry the task (group = channel uuid)', async () => {
    const { emu, clock } = sim();
    const evs: EslEvent[] = [];
    emu.core.subscribe((e) => {
      if (e.name.endsWith('_SCHEDULE')) evs.push(e);
    });
    const caller = emu.world.dial({ from: '13800000010' });
    clock.advance(100);
    await api(emu, clock, `sched_del ${caller.uuid}`);
    expect(evs.map((e) => [e.name, e.get('Task-ID'), e.get('Task-Desc'), e.get('Task-Group')])).toEqual([
      ['ADD_SCHEDULE', '1', 'switch_ivr_schedule_transfer', caller.uuid],
      ['DEL_SCHEDULE', '1', 'switch_ivr_schedule_transfer', caller.uuid],
    ]);
    expect(Number(evs[0]!.get('Task-Runtime'))).toBe(Math.floor(clock.now() / 1000) + 8);
  });
});

describe('sched_* API commands (mod_commands.c)', () => {
  it('sched_transfer [+]<time> <uuid> <extension> [<dialplan>] [<context>]', async () => {
    const { emu, clock } = sim({
      parkFallback: false,
      dialplan: [
        { match: /^12345$/, actions: [{ app: 'park' }] },
        { match: /^96001$/, context: 'ivr', actions: [{ app: 'answer' }, { app: 'playback', arg: '/opt/fs-switch/sounds/hello2s.wav' }, { app: 'hangup' }] },
      ],
    });
    const caller = emu.world.dial({ from: '13800000011' });
    clock.advance(100);
    const uuid = caller.uuid!;
    const usage = '-USAGE: [+]<time> <uuid> <extension> [<dialplan>] [<context>]\n';
    expect(await api(emu, clock, 'sched_transfer')).toBe(usage);
    expect(await api(emu, clock, 'sched_transfer +2')).toBe(usage);
    expect(await api(emu, clock, `sched_transfer +2 ${uuid} 96001 XML ivr extra`)).toBe(usage);
    expect(await api(emu, clock, 'sched_transfer +2 no-such-uuid 96001')).toBe('-ERR No such channel!\n');
    expect(await api(emu, clock, `sched_transfer +2 ${uuid} 96001 XML ivr`)).toBe('+OK\n');
    clock.advance(2_000);
    expect(emu.channel(uuid)?.destination).toBe('96001');
    clock.advance(500);
    expect(caller.hearing()).toBe('file:/opt/fs-switch/sounds/hello2s.wav');
  });

  it('sched_hangup [+]<time> <uuid> [<cause>]: ALLOTTED_TIMEOUT by default; +0 hangs up at once', async () => {
    const { emu, clock } = sim({ parkFallback: false });
    const c1 = emu.world.dial({ from: '13800000012' });
    const c2 = emu.world.dial({ from: '13800000013' });
    const c3 = emu.world.dial({ from: '13800000014' });
    clock.advance(100);
    expect(await api(emu, clock, 'sched_hangup')).toBe('-USAGE: [+]<time> <uuid> [<cause>]\n');
    expect(await api(emu, clock, 'sched_hangup +5')).toBe('-ERR No such channel!\n');
    expect(await api(emu, clock, `sched_hangup +3 ${c1.uuid}`)).toBe('+OK\n');
    expect(await api(emu, clock, `sched_hangup +3 ${c2.uuid} user_busy`)).toBe('+OK\n');
    expect(await api(emu, clock, `sched_hangup +0 ${c3.uuid} NO_ANSWER`)).toBe('+OK\n');
    expect(c3.endCause).toBe('NO_ANSWER');
    clock.advance(2_800);
    expect(c1.ended).toBe(false);
    clock.advance(200);
    expect(c1.endCause).toBe('ALLOTTED_TIMEOUT');
    expect(c2.endCause).toBe('USER_BUSY');
  });

  it('sched_broadcast [[+]<time>|@time] <uuid> <path> [aleg|bleg|both]: scheduled without a session check', async () => {
    const { emu, clock } = sim({ parkFallback: false });
    const caller = emu.world.dial({ from: '13800000015' });
    clock.advance(100);
    expect(await api(emu, clock, `sched_broadcast +1 ${caller.uuid}`)).toBe('-USAGE: [[+]<time>|@time] <uuid> <path> [aleg|bleg|both]\n');
    expect(await api(emu, clock, 'sched_broadcast +1 no-such-uuid /opt/fs-switch/sounds/hello2s.wav')).toBe('+OK Message scheduled\n');
    expect(await api(emu, clock, `sched_broadcast +1 ${caller.uuid} /opt/fs-switch/sounds/hello2s.wav aleg`)).toBe('+OK Message scheduled\n');
    clock.advance(1_000);
    expect(caller.hearing()).toBe('file:/opt/fs-switch/sounds/hello2s.wav');
    expect(emu.scheduler.list()).toEqual([]);
  });

  it('dialplan apps sched_hangup / sched_broadcast / sched_cancel', async () => {
    const { emu, clock } = sim({
      dialplan: [
        {
          match: /^12345$/,
          actions: [
            { app: 'sched_hangup', arg: '+4 NORMAL_TEMPORARY_FAILURE' },
            { app: 'sched_broadcast', arg: '+1 /opt/fs-switch/sounds/hello2s.wav' },
            { app: 'park' },
          ],
        },
        { match: /^12399$/, actions: [{ app: 'sched_hangup', arg: '+2' }, { app: 'sched_cancel' }, { app: 'park' }] },
      ],
    });
    const c1 = emu.world.dial({ from: '13800000016' });
    const c2 = emu.world.dial({ from: '13800000017', to: '12399' });
    clock.advance(100);
    expect(await api(emu, clock, `uuid_getvar ${c1.uuid} last_sched_id`)).toBe('2');
    clock.advance(1_000);
    expect(c1.hearing()).toBe('file:/opt/fs-switch/sounds/hello2s.wav');
    clock.advance(3_000);
    expect(c1.endCause).toBe('NORMAL_TEMPORARY_FAILURE');
    expect(c2.ended).toBe(false);
    c2.hangup();
  });
});
