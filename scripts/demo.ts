// `npm run demo [-- --minutes 5 --rate 0.5 --agents 10]`: the CTI on its built-in emulator with simulated citizens
// calling 12345 and simulated agents (demo center, extensions 1001…) who sign in, go ready and answer. Prints one
// status line every few seconds; stops after N minutes or on Ctrl-C (drains: live calls finish first, bounded).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { eq, and, inArray } from 'drizzle-orm';
import { pino } from 'pino';
import { loadEnv } from '../src/config/env.js';
import { startCti } from '../src/server.js';
import { Lifecycle } from '../src/lifecycle.js';
import { users } from '../src/db/schema/core.js';
import type { SimCaller } from '../src/sim/index.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: process.env.DEMO_MINUTES ?? '5' },
    rate: { type: 'string', default: '0.5' }, // new calls per second
    agents: { type: 'string', default: '10' },
    'status-every': { type: 'string', default: '5' },
    // keep the demo center's real working hours (at night every caller then meets the after-hours flow)
    'real-hours': { type: 'boolean', default: false },
  },
});
const minutes = Number(args.minutes);
const rate = Number(args.rate);
const agentCount = Math.min(20, Number(args.agents));

// the demo always runs on the emulator (its citizens are simulated), beside a real `npm start` if one runs
const base = loadEnv();
let flowsDir = base.IVR_FLOWS_DIR;
if (!args['real-hours']) {
  // a copy of the flows whose demo calendar is open around the clock, so the demo shows agents at any hour
  flowsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hotline-demo-flows-'));
  fs.cpSync(base.IVR_FLOWS_DIR, flowsDir, { recursive: true });
  const day = '["00:00-24:00"]';
  fs.writeFileSync(path.join(flowsDir, 'calendar', 'demo.yaml'), `official: false\nweekly: { mon: ${day}, tue: ${day}, wed: ${day}, thu: ${day}, fri: ${day}, sat: ${day}, sun: ${day} }\n`);
}
const env = loadEnv({
  ...process.env,
  FREESWITCH_ESL: '',
  SIM_ESL_PORT: '0',
  PORT: process.env.DEMO_PORT ?? '8090',
  SEED_DEMO_DATA: 'true',
  IVR_FLOWS_DIR: flowsDir,
  PROMPTS_DIR: path.resolve(base.PROMPTS_DIR),
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
});
const log = pino({ level: env.LOG_LEVEL });
const lifecycle = new Lifecycle();
const cti = await startCti(env, { log, lifecycle, watchFlows: false });
const emu = cti.emulator!;
const engine = cti.acd.engine;
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
const between = (lo: number, hi: number) => lo + Math.random() * (hi - lo);

// --- agents: the demo center's agents 1001…, each on their desk phone, auto-answering after 1-3 s
const exts = Array.from({ length: agentCount }, (_, i) => String(1001 + i));
const agentRows = await cti.ctx.db
  .select({ id: users.id, extension: users.extension })
  .from(users)
  .where(and(eq(users.tenantId, 'demo'), inArray(users.extension, exts)));
const extOf = new Map(agentRows.map((r) => [r.id, r.extension!]));
for (const a of agentRows) {
  const phone = emu.world.phone(a.extension!);
  if (!phone.registered) phone.register();
  phone.set({ kind: 'answer', afterMs: Math.round(between(1000, 3000)) });
  await engine.login(a.id, 'demo', { type: 'sip', address: a.extension! });
  await engine.setReady(a.id);
}
// after a talk of 15-45 s, the agent hangs up first in 2 of 3 calls (the caller then takes the survey)
engine.on('callOutcome', (o) => {
  if (o.outcome !== 'answered') return;
  const ext = extOf.get(o.agentId);
  if (!ext) return;
  const talk = between(15_000, 45_000);
  const agentHangsUp = Math.random() < 2 / 3;
  setTimeout(() => {
    if (agentHangsUp) emu.world.phone(ext).current()?.hangup();
    else live.get(o.callUuid)?.caller.hangup();
  }, talk).unref();
});

// --- citizens
interface Citizen {
  caller: SimCaller;
  pressedMenu: boolean;
  pressedSurvey: boolean;
  patienceAt: number;
}
const live = new Map<string, Citizen>();
const pending: Citizen[] = [];
let dialled = 0;
const files = (c: SimCaller) => c.heard.map((h) => h.what.replace(/^file:.*\//, ''));
const dial = () => {
  const from = `13${Math.floor(between(100000000, 999999999))}`;
  const caller = emu.world.dial({ from, to: Math.random() < 0.9 ? '12345' : '96128' });
  dialled++;
  pending.push({ caller, pressedMenu: false, pressedSurvey: false, patienceAt: Date.now() + between(60_000, 240_000) });
};
const dialTimer = setInterval(() => {
  // Poisson-ish arrivals at `rate` calls/s, checked every 100 ms
  if (Math.random() < rate / 10) dial();
}, 100);
// each citizen reacts to what they hear: a key in the main menu, a rating in the survey, hangs up when out of patience
const reactTimer = setInterval(() => {
  for (let i = pending.length - 1; i >= 0; i--) {
    const c = pending[i]!;
    if (c.caller.uuid) {
      live.set(c.caller.uuid, c);
      pending.splice(i, 1);
    }
  }
  const now = Date.now();
  for (const [uuid, c] of live) {
    if (c.caller.ended) {
      live.delete(uuid);
      continue;
    }
    const heard = files(c.caller);
    if (!c.pressedMenu && heard.includes('main-menu.wav')) {
      c.pressedMenu = true;
      c.caller.press(pick(['1', '1', '1', '2', '3', '5', '9', '0']));
    }
    if (!c.pressedSurvey && heard.includes('survey.wav')) {
      c.pressedSurvey = true;
      c.caller.press(pick(['1', '1', '1', '2', '3']));
    }
    if (now > c.patienceAt && !c.caller.hearing().startsWith('party:')) c.caller.hangup();
  }
}, 250);

// --- status
const counts = { ended: 0 };
cti.tracker.on('ended', () => counts.ended++);
const t0 = Date.now();
const status = async () => {
  const byState: Record<string, number> = {};
  for (const s of cti.tracker.sessions()) byState[s.state] = (byState[s.state] ?? 0) + 1;
  const agents = await engine.signedInAgents('demo').catch(() => []);
  const byAgent: Record<string, number> = {};
  for (const a of agents) byAgent[a.state] = (byAgent[a.state] ?? 0) + 1;
  const fmt = (o: Record<string, number>) => Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', ') || '-';
  const secs = Math.round((Date.now() - t0) / 1000);
  process.stdout.write(
    `[${String(secs).padStart(4)} s] 呼入 ${dialled} · 结束 ${counts.ended} · 在线 ${cti.tracker.size} (${fmt(byState)}) · 座席 ${fmt(byAgent)}\n`,
  );
};
const statusTimer = setInterval(() => void status(), Number(args['status-every']) * 1000);
process.stdout.write(`demo: CTI at ${cti.url} on the built-in emulator; ${agentRows.length} agents ready; ~${rate} calls/s for ${minutes} min (Ctrl-C stops)\n`);

let stopping = false;
const stop = async (why: string) => {
  if (stopping) process.exit(1); // a second Ctrl-C: now
  stopping = true;
  clearInterval(dialTimer);
  process.stdout.write(`demo: stopping (${why}); live calls hang up, then the CTI drains\n`);
  for (const c of [...live.values(), ...pending]) if (!c.caller.ended) c.caller.hangup();
  await status();
  clearInterval(statusTimer);
  clearInterval(reactTimer);
  await cti.close();
  process.exit(0);
};
process.on('SIGINT', () => void stop('Ctrl-C'));
process.on('SIGTERM', () => void stop('SIGTERM'));
setTimeout(() => void stop(`${minutes} min elapsed`), minutes * 60_000).unref();
