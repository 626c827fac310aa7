// Load benchmark for the FreeSWITCH emulator: 100 new calls/s up to ~2,000 concurrent channels, full JSON event
// stream to one ESL client that answers every call and plays a prompt (as the CTI would).
// The emulator runs in a child process so its CPU and RSS are measured alone.
//   npm run bench:sim [-- --rate 100 --hold 20 --duration 40]
import { fork } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};

interface Stats {
  channels: number;
  cpuUserMs: number;
  cpuSysMs: number;
  rssMb: number;
  calls: number;
}

async function child(): Promise<void> {
  const { Emulator } = await import('../src/sim/emulator.js');
  const emu = await new Emulator({ port: 0, heartbeatSec: 20, mediaDurations: { 'prompt.wav': 5000 } }).start();
  const rate = arg('rate', 100);
  const holdMs = arg('hold', 21) * 1000;
  let calls = 0;
  let n = 0;
  const dial = (): void => {
    const c = emu.world.dial({ from: `139${String(n++ % 100_000_000).padStart(8, '0')}` });
    calls++;
    c.hangupAfter(holdMs + 20);
  };
  process.send!({ port: emu.port });
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'start') {
      // `rate` calls/s, paced on elapsed time (timer jitter does not lower the rate)
      const t0 = performance.now();
      setInterval(() => {
        const due = Math.floor(((performance.now() - t0) / 1000) * rate);
        while (calls < due) dial();
      }, 10);
    }
    if (m.cmd === 'stats') {
      const u = process.cpuUsage();
      const s: Stats = { channels: emu.core.channels.size, cpuUserMs: u.user / 1000, cpuSysMs: u.system / 1000, rssMb: process.memoryUsage().rss / 1e6, calls };
      process.send!({ stats: s });
    }
    if (m.cmd === 'stop') process.exit(0);
  });
}

async function main(): Promise<void> {
  const duration = arg('duration', 40) * 1000;
  const proc = fork(fileURLToPath(import.meta.url), ['--child', ...process.argv.slice(2)], { execArgv: ['--import', 'tsx'] });
  const port = await new Promise<number>((r) => proc.once('message', (m: { port: number }) => r(m.port)));
  const sock = net.connect(port, '127.0.0.1');
  let buf = Buffer.alloc(0);
  let events = 0;
  let bytes = 0;
  let replies = 0;
  const send = (s: string): void => void sock.write(s);
  sock.on('data', (d) => {
    bytes += d.length;
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    for (;;) {
      const i = buf.indexOf('\n\n');
      if (i < 0) break;
      const head = buf.subarray(0, i).toString();
      const m = /Content-Length: (\d+)/.exec(head);
      const len = m ? Number(m[1]) : 0;
      if (buf.length < i + 2 + len) break;
      const body = buf.subarray(i + 2, i + 2 + len);
      buf = buf.subarray(i + 2 + len);
      if (head.includes('text/event-json')) {
        events++;
        // react like a CTI: answer parked callers, then play a prompt
        const s = body.toString();
        if (s.startsWith('{"Event-Name":"CHANNEL_PARK"') && s.includes('"Answer-State":"ringing"')) {
          const u = /"Unique-ID":"([^"]+)"/.exec(s)?.[1];
          if (u) send(`bgapi uuid_answer ${u}\n\n`);
        } else if (s.startsWith('{"Event-Name":"CHANNEL_ANSWER"')) {
          const u = /"Unique-ID":"([^"]+)"/.exec(s)?.[1];
          if (u) send(`sendmsg ${u}\ncall-command: execute\nexecute-app-name: playback\nexecute-app-arg: prompt.wav\n\n`);
        }
      } else if (head.includes('auth/request')) send('auth ClueCon\n\n');
      else if (head.includes('+OK accepted')) send('event json ALL\n\n');
      else replies++;
    }
  });
  await new Promise((r) => setTimeout(r, 300));
  proc.send({ cmd: 'start' });
  const stats = (): Promise<Stats> =>
    new Promise((r) => {
      proc.once('message', (m: { stats: Stats }) => r(m.stats));
      proc.send({ cmd: 'stats' });
    });
  let last = await stats();
  let lastEvents = 0;
  let lastT = performance.now();
  let peak = 0;
  const t0 = performance.now();
  console.log('   t  channels  calls  events/s   MB/s  emulator CPU%   RSS MB');
  while (performance.now() - t0 < duration) {
    await new Promise((r) => setTimeout(r, 5000));
    const s = await stats();
    const now = performance.now();
    const dt = (now - lastT) / 1000;
    const cpu = ((s.cpuUserMs + s.cpuSysMs - last.cpuUserMs - last.cpuSysMs) / 1000 / dt) * 100;
    peak = Math.max(peak, s.channels);
    console.log(
      `${((now - t0) / 1000).toFixed(0).padStart(4)}  ${String(s.channels).padStart(8)}  ${String(s.calls).padStart(5)}  ${((events - lastEvents) / dt).toFixed(0).padStart(8)}  ${(bytes / 1e6 / ((now - t0) / 1000)).toFixed(1).padStart(5)}  ${cpu.toFixed(0).padStart(13)}  ${s.rssMb.toFixed(0).padStart(7)}`,
    );
    last = s;
    lastEvents = events;
    lastT = now;
  }
  console.log(`peak channels ${peak}, events received ${events}, replies ${replies}`);
  proc.send({ cmd: 'stop' });
  sock.destroy();
}

if (process.argv.includes('--child')) void child();
else void main();
