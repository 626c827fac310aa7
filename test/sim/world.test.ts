// The simulated world on a virtual clock: callers, agents' phones, outside numbers, what everybody hears,
// recordings on disk, park_timeout, the scenario DSL.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, expect, afterEach } from 'vitest';
import { Emulator, VirtualClock, runScenario, wavDurationMs } from '../../src/sim/index.js';
import type { EmulatorOptions, SimLeg } from '../../src/sim/index.js';

const open: Emulator[] = [];
function sim(opts: EmulatorOptions = {}): { emu: Emulator; clock: VirtualClock } {
  const emu = new Emulator({ clock: 'virtual', listen: false, heartbeatSec: 0, ...opts });
  open.push(emu);
  return { emu, clock: emu.clock as VirtualClock };
}
afterEach(async () => {
  for (const e of open.splice(0)) await e.close();
});

/** the segments a party heard, as [what, ms] (ms rounded to 100) */
function heard(leg: SimLeg): Array<[string, number]> {
  return leg.heard.filter((h) => h.to !== undefined && h.to > h.from).map((h) => [h.what, Math.round((h.to! - h.from) / 100) * 100]);
}

describe('simulated world', () => {
  it('a caller in an IVR hears the prompt for its real length and picks a menu entry', async () => {
    const { emu, clock } = sim();
    const caller = emu.world.dial({ from: '13800000001' });
    clock.advance(50);
    const uuid = caller.uuid!;
    expect(emu.channel(uuid)?.apps).toEqual(['park']);
    const answered = emu.command(`uuid_answer ${uuid}`);
    clock.advance(50);
    expect(await answered).toBe('+OK\n');
    expect(emu.execute(uuid, 'playback', '/opt/fs-switch/sounds/hello2s.wav')).toBe('+OK');
    clock.advance(2500);
    emu.execute(uuid, 'play_and_get_digits', '1 1 3 5000 # /opt/fs-switch/sounds/prompt.wav /opt/fs-switch/sounds/invalid.wav menu_choice [1-5]');
    clock.advance(1000);
    caller.press('2'); // during the prompt: barge-in
    clock.advance(1000);
    expect(await emu.command(`uuid_getvar ${uuid} menu_choice`)).toBe('2');
    expect(await emu.command(`uuid_getvar ${uuid} read_result`)).toBe('success');
    caller.hangup();
    clock.advance(100);
    expect(heard(caller).slice(1)).toEqual([
      ['file:/opt/fs-switch/sounds/hello2s.wav', 2000],
      ['silence', 500],
      ['file:/opt/fs-switch/sounds/prompt.wav', 1300], // the key (280 ms after it was pressed) cut it short
      ['silence', 700],
    ]);
    expect(caller.ended).toBe(true);
    expect(emu.channels()).toEqual([]);
  });

  it('agent phone rings, answers after a delay, is bridged; hold music, whisper heard only by the agent', async () => {
    const { emu, clock } = sim();
    emu.world.phone('1001').set({ kind: 'answer', afterMs: 1500 });
    emu.world.phone('1003').set({ kind: 'answer', afterMs: 500 });
    const caller = emu.world.dial({ from: '13800000001' });
    clock.advance(50);
    await Promise.all([emu.command(`uuid_answer ${caller.uuid}`), Promise.resolve(clock.advance(50))]);
    const agentUuid = '11111111-1111-4111-8111-111111111111';
    const job = emu.command(`originate {origination_uuid=${agentUuid},originate_timeout=15}user/1001 &park()`);
    clock.advance(1000);
    const ringing = emu.world.phone('1001').current()!;
    expect(ringing.ch?.callState).toBe('RINGING');
    clock.advance(600);
    expect(await job).toBe(`+OK ${agentUuid}\n`);
    const bridged = emu.command(`uuid_bridge ${caller.uuid} ${agentUuid}`);
    clock.advance(100);
    expect(await bridged).toBe(`+OK ${agentUuid}\n`);
    expect(emu.channel(caller.uuid!)?.partner).toBe(agentUuid);
    expect(caller.hearing()).toBe('party:1001');
    expect(ringing.hearing()).toBe('party:13800000001');

    await emu.command(`uuid_hold ${agentUuid}`);
    clock.advance(300);
    expect(caller.hearing()).toMatch(/^moh:/);
    await emu.command(`uuid_hold off ${agentUuid}`);
    clock.advance(100);
    expect(caller.hearing()).toBe('party:1001');

    // supervisor 1003 eavesdrops on the agent's leg and whispers to the agent (DTMF 2)
    const sup = emu.command(`originate {originate_timeout=15,eavesdrop_enable_dtmf=true}user/1003 &eavesdrop(${agentUuid})`);
    clock.advance(700);
    const supUuid = (await sup).trim().split(' ')[1]!;
    const supLeg = emu.world.phone('1003').current()!;
    expect(emu.channel(supUuid)?.eavesdrop).toEqual({ target: agentUuid, mode: 'listen' });
    expect(supLeg.hearing()).toBe('eavesdrop:1001');
    supLeg.press('2');
    clock.advance(400);
    expect(emu.channel(supUuid)?.eavesdrop?.mode).toBe('whisper-target');
    expect(ringing.hearing()).toBe('party:13800000001 + whisper:1003');
    expect(caller.hearing()).toBe('party:1001');
    supLeg.press('0');
    clock.advance(400);
    expect(ringing.hearing()).toBe('party:13800000001');

    caller.hangup();
    clock.advance(200);
    expect(emu.channels()).toEqual([]); // agent and supervisor follow the caller
  });

  it('originate failures: busy, declined, not registered, no such user, no answer (1 s granularity)', async () => {
    const { emu, clock } = sim();
    emu.world.phone('1002').set({ kind: 'reject', cause: 'USER_BUSY', afterMs: 300 });
    emu.world.phone('1003').set({ kind: 'reject', cause: 'CALL_REJECTED', afterMs: 300 });
    emu.world.phone('1004').set({ kind: 'noanswer' });
    emu.world.phone('1005').unregister();
    clock.advance(200);
    const r = ['user/1002', 'user/1003', 'user/1005', 'user/1999', '{originate_timeout=3}user/1004'].map((d) => emu.command(`originate ${d} &park()`));
    clock.advance(500);
    expect(await r[0]).toBe('-ERR USER_BUSY\n');
    expect(await r[1]).toBe('-ERR CALL_REJECTED\n');
    expect(await r[2]).toBe('-ERR USER_NOT_REGISTERED\n');
    expect(await r[3]).toBe('-ERR SUBSCRIBER_ABSENT\n');
    clock.advance(1700);
    let done = false;
    void r[4]!.then(() => (done = true));
    await Promise.resolve();
    expect(done).toBe(false);
    clock.advance(200);
    expect(await r[4]).toBe('-ERR NO_ANSWER\n'); // fired at 2.3 s, as the real switch does
    expect(await emu.command('originate sofia/gateway/nosuchgw/123 &park()')).toBe('-ERR INVALID_GATEWAY\n');
  });

  it('uuid_record writes a real stereo WAV of the recorded length', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sim-rec-'));
    const { emu, clock } = sim();
    emu.world.phone('1001').set({ kind: 'answer', afterMs: 200 });
    const caller = emu.world.dial({ from: '13800000001' });
    clock.advance(50);
    caller.speak(10_000, 440);
    const a = emu.command(`originate user/1001 &park()`);
    clock.advance(400);
    const agent = (await a).trim().split(' ')[1]!;
    void emu.command(`uuid_bridge ${caller.uuid} ${agent}`);
    clock.advance(100);
    emu.world.phone('1001').current()!.speak(10_000, 880);
    await emu.command(`uuid_setvar ${caller.uuid} RECORD_STEREO true`);
    const file = path.join(dir, 'call.wav');
    void emu.command(`uuid_record ${caller.uuid} start ${file}`);
    clock.advance(3020);
    expect(await emu.command(`uuid_record ${caller.uuid} stop ${file}`)).toBe('+OK Success\n');
    const buf = fs.readFileSync(file);
    expect(buf.readUInt16LE(22)).toBe(2); // channels
    expect(buf.readUInt32LE(24)).toBe(8000);
    expect(Math.round(wavDurationMs(file)! / 100) * 100).toBe(3000);
    caller.hangup();
  });

  it('record app: voicemail ends on silence; the file holds the speech', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sim-vm-'));
    const { emu, clock } = sim();
    const caller = emu.world.dial({ from: '13800000001' });
    clock.advance(50);
    void emu.command(`uuid_answer ${caller.uuid}`);
    clock.advance(50);
    const file = path.join(dir, 'vm.wav');
    caller.speak(4000);
    emu.execute(caller.uuid!, 'record', `${file} 300 200 3`);
    clock.advance(8000);
    expect(await emu.command(`uuid_getvar ${caller.uuid} silence_hits_exhausted`)).toBe('true');
    const ms = wavDurationMs(file)!;
    expect(ms).toBeGreaterThan(3000);
    expect(ms).toBeLessThan(4100);
    caller.hangup();
  });

  it('park_timeout=secs[:CAUSE] hangs up with the cause (a non-cause suffix is NORMAL_CLEARING, never a transfer)', async () => {
    const { emu, clock } = sim({
      dialplan: [
        { match: /^12345$/, actions: [{ app: 'set', arg: 'park_timeout=5:96001' }, { app: 'park' }] },
        { match: /^12399$/, actions: [{ app: 'set', arg: 'park_timeout=2:NO_ANSWER' }, { app: 'park' }] },
        { match: /^96001$/, actions: [{ app: 'answer' }, { app: 'playback', arg: '/opt/fs-switch/sounds/hello2s.wav' }, { app: 'hangup' }] },
      ],
    });
    const c1 = emu.world.dial({ from: '13800000001' });
    const c2 = emu.world.dial({ from: '13800000002', to: '12399' });
    clock.advance(2100);
    expect(c2.ended).toBe(true);
    expect(c2.endCause).toBe('NO_ANSWER');
    expect(c1.ended).toBe(false);
    clock.advance(3000);
    // switch_channel_str2cause("96001") = cause 96001, which has no name: the emulator says NORMAL_CLEARING
    expect(c1.ended).toBe(true);
    expect(c1.heard.some((h) => h.what.startsWith('file:'))).toBe(false);
  });

  it('scenario DSL: steps at times, after others, and on events', async () => {
    const { emu, clock } = sim();
    const log: string[] = [];
    let caller: SimLeg | undefined;
    const done = runScenario(emu, [
      { at: 0, do: (e) => (caller = e.world.dial({ from: '13800000007' })) },
      { on: 'CHANNEL_PARK', do: (e, ev) => void e.command(`uuid_answer ${ev!.get('Unique-ID')}`) },
      { on: 'CHANNEL_ANSWER', do: () => log.push(`answered at ${clock.now() - t0}`) },
      { after: 1000, do: () => caller!.hangup() },
    ]);
    const t0 = clock.now();
    clock.advance(2000);
    await done;
    expect(log.length).toBe(1);
    expect(caller!.ended).toBe(true);
  });

  it('conference: members, list, kick; outside expert dialled in', async () => {
    const { emu, clock } = sim();
    emu.world.number('13900000000').set({ kind: 'answer', afterMs: 500 });
    const caller = emu.world.dial({ from: '13800000001' });
    clock.advance(50);
    void emu.command(`uuid_answer ${caller.uuid}`);
    clock.advance(50);
    emu.execute(caller.uuid!, 'conference', 'tw-9@default');
    clock.advance(50);
    void emu.command('originate sofia/gateway/world/13900000000 &conference(tw-9@default)');
    clock.advance(800);
    const list = await emu.command('conference tw-9 list');
    expect(list.split('\n').filter(Boolean).map((l) => l.split(';')[0])).toEqual(['2', '1']);
    expect(caller.hearing()).toBe('conference:tw-9');
    expect(await emu.command('conference tw-9 kick 2')).toBe('+OK kicked 2\n');
    clock.advance(100);
    expect(emu.world.number('13900000000').calls[0]!.ended).toBe(true);
    caller.hangup();
    clock.advance(100);
    expect(await emu.command('conference tw-9 list')).toBe('-ERR Conference tw-9 not found\n');
  });
});
