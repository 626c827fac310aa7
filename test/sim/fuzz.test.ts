// Malformed and random ESL input never throws out of a connection, and the connection keeps answering.
import { describe, it, expect } from 'vitest';
import { Emulator, VirtualClock } from '../../src/sim/index.js';

function rnd(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('ESL input fuzzing (in-process)', () => {
  it('random commands, headers and bytes are answered or ignored, never crash', async () => {
    const emu = new Emulator({ clock: 'virtual', listen: false, heartbeatSec: 0 });
    let out = '';
    const conn = emu.connect((s) => (out += s));
    conn.receive(Buffer.from('auth ClueCon\n\n'));
    const caller = emu.world.dial({ from: '13800000001' });
    (emu.clock as VirtualClock).advance(50);
    const uuid = caller.uuid!;
    const verbs = ['api', 'bgapi', 'sendmsg', 'event', 'filter', 'nixevent', 'myevents', 'linger', 'log', 'noevents', 'xyz', ''];
    const apis = ['originate', 'uuid_bridge', 'uuid_transfer', 'uuid_kill', 'uuid_hold', 'conference', 'show', 'sofia', 'uuid_record', 'uuid_broadcast', 'eval', 'global_setvar', 'uuid_setvar'];
    const words = [uuid, 'off', '-both', 'inline', 'json', 'plain', 'ALL', 'CUSTOM', 'a::b', '{x=1}user/1001', '&park()', "'&intercept(-bleg", 'x', '', '12345', 'start', '/tmp/x.wav', 'list', 'kick', 'as', 'count'];
    const r = rnd(42);
    const pick = <T>(a: T[]): T => a[Math.floor(r() * a.length)]!;
    for (let i = 0; i < 3000; i++) {
      let line = pick(verbs);
      if (line === 'api' || line === 'bgapi') line += ` ${pick(apis)}`;
      for (let n = Math.floor(r() * 4); n > 0; n--) line += ` ${pick(words)}`;
      let frame = `${line}\n`;
      if (r() < 0.3) frame += `call-command: ${pick(['execute', 'hangup', 'unicast', 'bogus'])}\nexecute-app-name: ${pick(['playback', 'bridge', 'park', 'nosuchapp', ''])}\nexecute-app-arg: ${pick(words)}\n`;
      if (r() < 0.05) frame += `Content-Length: ${Math.floor(r() * 5)}\n\nabcde`;
      else frame += '\n';
      if (r() < 0.05) frame = Buffer.from(Array.from({ length: 40 }, () => Math.floor(r() * 256))).toString('latin1');
      expect(() => conn.receive(Buffer.from(frame, 'latin1'))).not.toThrow();
      (emu.clock as VirtualClock).advance(Math.floor(r() * 50));
    }
    // still alive and answering (unless a fuzzed `exit` closed it: then a new connection must work)
    const c2out: string[] = [];
    const c2 = emu.connect((s) => c2out.push(s));
    c2.receive(Buffer.from('auth ClueCon\n\napi version\n\n'));
    expect(c2out.join('')).toMatch(/FreeSWITCH Version 1\.11/);
    expect(out.length).toBeGreaterThan(0);
    await emu.close();
  });
});
