// Real-time CPU scheduling for the CTI process (CPU_REALTIME_PRIORITY), as FreeSWITCH's own systemd unit does for
// the switch (CPUSchedulingPolicy=rr). An ACD decision is a chain CTI → Redis → CTI → ESL; on a box the CTI shares
// with PostgreSQL, Redis or the switch, each hop can wait a scheduler slice for a core, and those waits, not the
// CTI's own work, were most of the decision latency's p99 (README, Benchmarks). SCHED_RR lets the CTI run as soon as
// its input arrives; the kernel's RT throttling (sched_rt_runtime_us, 95 % by default) still leaves the others CPU.
// Node has no sched_setscheduler binding, so util-linux's chrt (Debian: essential) sets every thread of the process.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface RealtimeResult {
  ok: boolean;
  /** 'SCHED_RR 10 on 12 threads', or why it could not be set */
  detail: string;
}

/** Linux scheduling policies as /proc/<pid>/stat reports them */
export const SCHED_OTHER = 0;
export const SCHED_RR = 2;

/** Scheduling policy and real-time priority of each thread of a process, from /proc/<pid>/task/<tid>/stat. */
export function threadPolicies(pid = process.pid): { tid: number; policy: number; rtPriority: number }[] {
  const out: { tid: number; policy: number; rtPriority: number }[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // fields after the command name (which may hold spaces): field 3 is at index 0, rt_priority is 40, policy 41
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.push({ tid: Number(tid), policy: Number(f[41 - 3]), rtPriority: Number(f[40 - 3]) });
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

/** Run chrt; null when it succeeded, else why not (its stderr). */
function chrt(args: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('chrt', args, { timeout: 5000 }, (err, _stdout, stderr) => resolve(err ? stderr.trim() || err.message : null));
  });
}

/**
 * Put every thread of this process under SCHED_RR at `priority` (1-99): the event loop and the threads V8 and libuv
 * already run (the GC's helpers among them). Threads and processes started later do not inherit it (the recording
 * compressor's ffmpeg must not compete at real-time priority). Never throws: a refusal (no CAP_SYS_NICE, no chrt, not
 * Linux) is returned for the log.
 */
export async function requestRealtimePriority(priority: number, pid = process.pid): Promise<RealtimeResult> {
  if (!Number.isInteger(priority) || priority < 1 || priority > 99) return { ok: false, detail: `priority ${priority} is not 1-99` };
  if (process.platform !== 'linux') return { ok: false, detail: `not supported on ${process.platform}` };
  // reset-on-fork: what the node starts later (ffmpeg, worker threads) runs with normal scheduling and its nice
  const refused = await chrt(['--all-tasks', '--reset-on-fork', '--rr', '--pid', String(priority), String(pid)]);
  if (refused !== null) return { ok: false, detail: refused };
  const threads = threadPolicies(pid);
  const missed = threads.filter((t) => t.policy !== SCHED_RR || t.rtPriority !== priority);
  if (missed.length > 0) return { ok: false, detail: `${missed.length} of ${threads.length} threads not SCHED_RR ${priority}` };
  return { ok: true, detail: `SCHED_RR ${priority} on ${threads.length} threads` };
}

/** Back to the normal time-sharing policy (tests, and the bench's redis-server when its run ends). */
export async function dropRealtimePriority(pid = process.pid): Promise<RealtimeResult> {
  const refused = await chrt(['--all-tasks', '--other', '--pid', '0', String(pid)]);
  return refused === null ? { ok: true, detail: 'SCHED_OTHER' } : { ok: false, detail: refused };
}
