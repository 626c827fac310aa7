// HEARTBEAT events (switch.conf.xml event-heartbeat-interval; stock 20 s).
import type { SwitchCore } from './core.js';
import { EslEvent } from './event.js';
import type { TimerHandle } from './clock.js';

export class Heartbeat {
  private timer?: TimerHandle;
  private stopped = false;
  constructor(
    private readonly core: SwitchCore,
    private readonly intervalMs: number,
  ) {
    if (intervalMs > 0) this.schedule();
  }
  private schedule(): void {
    this.timer = this.core.later(this.intervalMs, () => {
      if (this.stopped) return;
      this.fire();
      this.schedule();
    });
  }
  fire(): void {
    const core = this.core;
    const h = core.events.core('HEARTBEAT', ['switch_core.c', 'send_heartbeat', 95]);
    const up = core.now() - core.startedMs;
    let s = Math.floor(up / 1000);
    const d = Math.floor(s / 86400);
    s -= d * 86400;
    const hr = Math.floor(s / 3600);
    s -= hr * 3600;
    const m = Math.floor(s / 60);
    s -= m * 60;
    h['Event-Info'] = 'System Ready';
    h['Up-Time'] = `0 years, ${d} days, ${hr} hours, ${m} minutes, ${s} seconds, ${Math.floor(up % 1000)} milliseconds, ${Math.floor((up * 1000) % 1000)} microseconds`;
    h['FreeSWITCH-Version'] = '1.11.3-dev~64bit';
    h['Uptime-msec'] = String(Math.floor(up));
    h['Session-Count'] = String(core.channels.size);
    h['Max-Sessions'] = String(core.maxSessions);
    h['Session-Per-Sec'] = '30';
    h['Session-Per-Sec-Last'] = '0';
    h['Session-Per-Sec-Max'] = '0';
    h['Session-Per-Sec-FiveMin'] = '0';
    h['Session-Since-Startup'] = String(core.sessionsSinceStartup);
    h['Session-Peak-Max'] = String(core.sessionPeak);
    h['Session-Peak-FiveMin'] = String(core.sessionPeak);
    h['Idle-CPU'] = '99.000000';
    core.emit(new EslEvent('HEARTBEAT', h));
  }
  stop(): void {
    this.stopped = true;
    this.core.clock.clearTimeout(this.timer);
  }
}
