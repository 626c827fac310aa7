// Three-way scenario driver on the CTI side: every call the ACD connects gets the agent's three-way
// (CallControl.threeWay with an outside number, as the agent's "三方通话" button does), up to `limit` calls.
// CallControl is not composed into startCti yet, so the bench builds one over the running CTI's ESL cluster,
// call tracker and ACD engine.
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { RunningCti } from '../../src/server.js';
import { CallControl } from '../../src/control/index.js';
import type { CallOutcome } from '../../src/acd/index.js';
import type { CallSession } from '../../src/calls/index.js';

export interface ThreeWayResult {
  attempted: number;
  succeeded: number;
  failed: Record<string, number>;
  setupMs: number[];
  peakConcurrent: number;
}

export class ThreeWayDriver {
  private readonly control: CallControl;
  private readonly live = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  readonly result: ThreeWayResult = { attempted: 0, succeeded: 0, failed: {}, setupMs: [], peakConcurrent: 0 };
  private readonly onOutcome: (o: { callUuid: string; tenantId: string } & CallOutcome) => void;
  private readonly onEnded: (s: CallSession) => void;

  constructor(private readonly cti: RunningCti, log: Logger, private readonly limit: number, private readonly delayMs = 500) {
    this.control = new CallControl({ esl: cti.cluster, tracker: cti.tracker, log, acd: cti.acd.engine, gateway: 'world', centerCallerId: () => '12345' }).start();
    this.onOutcome = (o) => {
      if (o.outcome !== 'answered' || this.result.attempted >= this.limit) return;
      this.result.attempted++;
      const agentId = o.agentId;
      // after the bridge settles (the agent presses the button a moment after answering)
      const t = setTimeout(() => {
        this.timers.delete(t);
        void this.threeWay(o.callUuid, o.tenantId, agentId);
      }, this.delayMs);
      this.timers.add(t);
    };
    this.onEnded = (s) => void this.live.delete(s.uuid);
    cti.acd.engine.on('callOutcome', this.onOutcome);
    cti.tracker.on('ended', this.onEnded);
  }

  private async threeWay(callUuid: string, tenantId: string, agentId: string): Promise<void> {
    const t0 = performance.now();
    try {
      await this.control.threeWay({ userId: agentId, tenantId, role: 'agent' }, { kind: 'number', number: `1370${String(this.result.attempted).padStart(7, '0')}` }, callUuid);
      this.result.setupMs.push(performance.now() - t0);
      this.result.succeeded++;
      this.live.add(callUuid);
      this.result.peakConcurrent = Math.max(this.result.peakConcurrent, this.live.size);
    } catch (err) {
      const code = (err as { code?: string }).code ?? (err as Error).message;
      this.result.failed[code] = (this.result.failed[code] ?? 0) + 1;
    }
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.cti.acd.engine.off('callOutcome', this.onOutcome);
    this.cti.tracker.off('ended', this.onEnded);
    this.control.stop();
  }
}
