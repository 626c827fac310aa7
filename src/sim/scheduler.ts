// The core scheduler (src/switch_scheduler.c) on the emulator clock: what sched_transfer / sched_hangup /
// sched_broadcast add and sched_del removes. Task ids count up from 1 per switch; a task's group is a string
// (the channel uuid for the sched_* tasks, as switch_ivr_schedule_* pass it).
import type { SwitchCore } from './core.js';
import type { TimerHandle } from './clock.js';
import { EslEvent } from './event.js';

interface Task {
  id: number;
  group: string;
  desc: string;
  /** epoch seconds */
  runtime: number;
  /** seconds; a task whose runtime was in the past at creation repeats (switch_scheduler_add_task_ex) */
  repeat: number;
  fn: () => void;
  timer?: TimerHandle;
}

/** C atol: leading blanks, optional sign, digits; anything else stops it (0 when nothing parsed) */
export function atol(s: string | undefined): number {
  const m = /^\s*([+-]?\d+)/.exec(s ?? '');
  return m ? Number.parseInt(m[1]!, 10) : 0;
}

export class Scheduler {
  private seq = 0;
  private readonly tasks = new Map<number, Task>();

  constructor(private readonly core: SwitchCore) {}

  nowSec(): number {
    return Math.floor(this.core.now() / 1000);
  }

  /** switch_scheduler_add_task: runtime in epoch seconds; returns the task id */
  add(runtime: number, desc: string, group: string, fn: () => void): number {
    const now = this.nowSec();
    let repeat = 0;
    if (runtime < now) {
      // the real scheduler reads a "time" before now as an interval and repeats the task at it
      repeat = runtime;
      runtime += now;
    }
    const t: Task = { id: ++this.seq, group: group || 'none', desc, runtime, repeat, fn };
    this.tasks.set(t.id, t);
    this.fire('ADD_SCHEDULE', t, 266);
    this.arm(t);
    return t.id;
  }

  /** the task thread runs a task in the first check where epoch seconds >= runtime */
  private arm(t: Task): void {
    const ms = Math.max(0, t.runtime * 1000 - this.core.now());
    t.timer = this.core.later(ms, () => this.run(t));
  }

  private run(t: Task): void {
    if (!this.tasks.has(t.id)) return;
    t.fn();
    if (!this.tasks.has(t.id)) return; // deleted while running
    if (t.repeat) {
      t.runtime = this.nowSec() + t.repeat;
      this.fire('RE_SCHEDULE', t, 73);
      this.arm(t);
      return;
    }
    this.tasks.delete(t.id);
    this.fire('DEL_SCHEDULE', t, 151);
  }

  /** switch_scheduler_del_task_id: 1 if the task was there */
  delId(id: number): number {
    const t = this.tasks.get(id);
    if (!t) return 0;
    this.remove(t);
    return 1;
  }

  /** switch_scheduler_del_task_group: how many tasks of the group (exact, case-sensitive) were removed */
  delGroup(group: string): number {
    if (!group) return 0;
    let n = 0;
    for (const t of [...this.tasks.values()])
      if (t.group === group) {
        this.remove(t);
        n++;
      }
    return n;
  }

  /** tasks still scheduled (introspection for tests) */
  list(): Array<{ id: number; group: string; desc: string; runtime: number }> {
    return [...this.tasks.values()].map(({ id, group, desc, runtime }) => ({ id, group, desc, runtime }));
  }

  private remove(t: Task): void {
    this.core.clock.clearTimeout(t.timer);
    this.tasks.delete(t.id);
    this.fire('DEL_SCHEDULE', t, 151);
  }

  private fire(name: 'ADD_SCHEDULE' | 'DEL_SCHEDULE' | 'RE_SCHEDULE', t: Task, line: number): void {
    if (!this.core.hasListeners()) return;
    const fn = name === 'ADD_SCHEDULE' ? 'switch_scheduler_add_task_ex' : name === 'RE_SCHEDULE' ? 'switch_scheduler_execute' : 'task_thread_loop';
    const h = this.core.events.core(name, ['switch_scheduler.c', fn, line]);
    h['Task-ID'] = String(t.id);
    h['Task-Desc'] = t.desc;
    h['Task-Group'] = t.group;
    h['Task-Runtime'] = String(t.runtime);
    this.core.emit(new EslEvent(name, h));
  }
}
