// Call-control latency under load: 30 concurrent three-way calls plus 60 concurrent recorded calls on the emulator
// (TCP ESL, the real EslCluster, CallTracker, CDR writer and RecordingService), then every command of every call
// measured: time from the CallControl call to the ESL command being handed to the connection (the CTI's own added
// latency) and to its reply/BACKGROUND_JOB (CTI + switch). originate jobs also contain the far end's answer time
// (100 ms here) and are reported apart.
// Run: npx tsx bench/control.ts   (PostgreSQL + Redis as in the tests; BENCH_THREEWAY=30, BENCH_RECORDED=60, BENCH_ROUNDS=3)
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { createPool, createDb } from '../src/db/client.js';
import { tenants } from '../src/db/schema/core.js';
import { RecordingService, recordAgentAnswer } from '../src/recording/index.js';
import type { Actor, CommandTiming } from '../src/control/index.js';
import { startCti, talkingCall, sleep, until, log, FakeAcd } from '../test/control/helpers.js';
import { TEST_DATABASE_URL } from '../test/helpers/env.js';

const THREEWAY = Number(process.env.BENCH_THREEWAY ?? 30);
const RECORDED = Number(process.env.BENCH_RECORDED ?? 60);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

function pct(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

async function main(): Promise<void> {
  const pool = createPool(TEST_DATABASE_URL, 8);
  const db = createDb(pool);
  const tenant = `bctl${Math.random().toString(36).slice(2, 8)}`;
  await db.insert(tenants).values({ id: tenant, name: '话务控制压测' });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-control-'));
  const acd = new FakeAcd();
  const cti = await startCti(pool, tenant, { acd, commandTimeoutMs: 30_000 });
  const recording = new RecordingService({ db, esl: cti.cluster, recordingsDir: dir, log }).attach();
  const total = THREEWAY + RECORDED;
  const agents = Array.from({ length: total }, (_, i) => ({ id: randomUUID(), ext: String(3000 + i) }));
  for (const a of agents) {
    cti.emu.world.phone(a.ext).register();
    acd.add(a.id, tenant, a.ext);
  }
  await sleep(200);
  const actor = (id: string): Actor => ({ userId: id, tenantId: tenant, role: 'agent' });

  // the calls: all bridged first, then recorded / put in three-way concurrently
  const t0 = performance.now();
  const calls = await Promise.all(agents.map((a, i) => talkingCall(cti, `1380000${String(i).padStart(4, '0')}`, a.id, a.ext)));
  console.log(`${total} calls bridged in ${Math.round(performance.now() - t0)} ms`);
  cti.timings.length = 0;
  const recorded = calls.slice(THREEWAY);
  const threeway = calls.slice(0, THREEWAY);
  await Promise.all(recorded.map((c) => recordAgentAnswer(recording, c.session, c.agentLeg)));
  for (let i = 0; i < THREEWAY; i++) cti.emu.world.number(`139${String(i).padStart(8, '0')}`).set({ kind: 'answer', afterMs: 100 });
  await Promise.all(threeway.map((c, i) => cti.control.threeWay(actor(agents[i]!.id), { kind: 'number', number: `139${String(i).padStart(8, '0')}` })));
  await until(() => threeway.every((c) => cti.emu.emulator.channel(c.session.uuid)?.conference !== undefined), 10_000, 'all in conference');
  console.log(`${cti.control.conferenceCount} three-way calls live, ${recorded.length} recorded calls; ${cti.emu.emulator.channels().length} channels`);

  // load: every recorded call is held and retrieved ROUNDS times, all at once
  for (let r = 0; r < ROUNDS; r++) {
    await Promise.all(recorded.map((c, i) => cti.control.hold(actor(agents[THREEWAY + i]!.id))));
    await sleep(300);
    await Promise.all(recorded.map((c, i) => cti.control.retrieve(actor(agents[THREEWAY + i]!.id))));
    await sleep(300);
  }
  // then the agents leave their three-way calls (list + kick), all at once
  await Promise.all(threeway.map((c, i) => cti.control.leaveThreeWay(actor(agents[i]!.id))));
  await sleep(500);
  const stillTalking = threeway.filter((c) => cti.emu.emulator.channel(c.session.uuid)?.conference).length;
  console.log(`after the agents left: ${stillTalking}/${THREEWAY} callers still in their conference with the expert`);

  const byOp = new Map<string, CommandTiming[]>();
  for (const t of cti.timings) {
    const key = t.command.split(' ')[0] === 'originate' ? `${t.op} (originate, incl. 100 ms answer)` : `${t.op} (${t.command.split(' ').slice(0, t.command.startsWith('conference') ? 3 : 1).join(' ').replace(/ [0-9a-f-]{36}/, '').replace(/tw-[0-9a-f]+/, '<conf>')})`;
    if (!byOp.has(key)) byOp.set(key, []);
    byOp.get(key)!.push(t);
  }
  console.log('\nper command: n, to ESL send p50/p99 (ms), to reply/BACKGROUND_JOB p50/p99 (ms), failures');
  for (const [k, ts] of [...byOp].sort()) {
    const send = ts.map((t) => t.toSendMs);
    const job = ts.map((t) => t.toJobMs);
    console.log(`${k.padEnd(60)} n=${String(ts.length).padStart(4)}  send ${pct(send, 50).toFixed(2)}/${pct(send, 99).toFixed(2)}  job ${pct(job, 50).toFixed(1)}/${pct(job, 99).toFixed(1)}  fail=${ts.filter((t) => !t.ok).length}`);
  }
  const simple = cti.timings.filter((t) => !t.command.startsWith('originate'));
  console.log(`\nall non-originate commands: n=${simple.length} send p50 ${pct(simple.map((t) => t.toSendMs), 50).toFixed(2)} p99 ${pct(simple.map((t) => t.toSendMs), 99).toFixed(2)} ms; job p50 ${pct(simple.map((t) => t.toJobMs), 50).toFixed(1)} p99 ${pct(simple.map((t) => t.toJobMs), 99).toFixed(1)} ms`);

  for (const c of calls) c.caller.hangup();
  await sleep(1500);
  recording.detach();
  await cti.stop();
  await pool.end();
  await rm(dir, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
