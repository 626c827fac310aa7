// CPU_REALTIME_PRIORITY: the node's threads under SCHED_RR, read back from /proc, and a refusal that is reported, not
// thrown. Run on a child process (not the test runner), as root in CI; without CAP_SYS_NICE the refusal is checked.
import { describe, it, expect, afterEach } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { requestRealtimePriority, dropRealtimePriority, threadPolicies, SCHED_OTHER, SCHED_RR } from '../../src/lib/realtime-priority.js';

const mayRaise = process.platform === 'linux' && process.getuid?.() === 0;

describe('requestRealtimePriority', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill('SIGKILL');
    child = undefined;
  });

  /** a Node process with a few threads (V8 platform workers, libuv) that only waits */
  async function idleNode(): Promise<number> {
    // on a line on stdin it starts a process of its own and prints that one's pid (is real-time inherited?)
    const script = `process.stdin.on('data', () => console.log(require('child_process').spawn('sleep', ['30']).pid)); console.log('up')`;
    child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    await once(child.stdout!, 'data');
    return child.pid!;
  }

  it.runIf(mayRaise)('puts every thread of the process under SCHED_RR at the priority, and back', async () => {
    const pid = await idleNode();
    expect(threadPolicies(pid).every((t) => t.policy === SCHED_OTHER)).toBe(true);
    const r = await requestRealtimePriority(7, pid);
    expect(r).toMatchObject({ ok: true });
    const threads = threadPolicies(pid);
    expect(threads.length).toBeGreaterThan(1);
    expect(r.detail).toBe(`SCHED_RR 7 on ${threads.length} threads`);
    for (const t of threads) expect(t).toMatchObject({ policy: SCHED_RR, rtPriority: 7 });
    // what it starts afterwards (the recording compressor's ffmpeg) is not real-time
    child!.stdin!.write('spawn\n');
    const grandchild = Number(String((await once(child!.stdout!, 'data'))[0]).trim());
    try {
      expect(threadPolicies(grandchild)).toEqual([{ tid: grandchild, policy: SCHED_OTHER, rtPriority: 0 }]);
    } finally {
      process.kill(grandchild, 'SIGKILL');
    }
    expect(await dropRealtimePriority(pid)).toMatchObject({ ok: true });
    for (const t of threadPolicies(pid)) expect(t).toMatchObject({ policy: SCHED_OTHER, rtPriority: 0 });
  });

  it.runIf(!mayRaise && process.platform === 'linux')('reports a refusal without CAP_SYS_NICE instead of throwing', async () => {
    const pid = await idleNode();
    const r = await requestRealtimePriority(7, pid);
    expect(r.ok).toBe(false);
    expect(r.detail).not.toBe('');
    expect(threadPolicies(pid).every((t) => t.policy === SCHED_OTHER)).toBe(true);
  });

  it('refuses a priority outside 1-99 before touching the process', async () => {
    for (const p of [0, 100, 2.5, Number.NaN]) {
      const r = await requestRealtimePriority(p, 1);
      expect(r).toEqual({ ok: false, detail: `priority ${p} is not 1-99` });
    }
  });

  it('reports a process that does not exist', async () => {
    const r = await requestRealtimePriority(5, 2 ** 22 + 12345);
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(/chrt|No such process|failed/i);
  });
});
