// Measurements taken inside the CTI process: ESL events ingested, ACD decision latency (the triggering ESL event's
// arrival → the originate leaving the socket), DTMF → next command for that call, CPU, RSS, event-loop use.
// Uses EslNode's optional 'command' event and the cluster's events (EslEvent.receivedAt = performance.now()).
import { performance, monitorEventLoopDelay, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import type { EslCluster, EslEvent } from '../../src/esl/index.js';
import type { AcdEngine, AgentStateEvent } from '../../src/acd/index.js';

const UUID_RE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
/** caller events after which the CTI may decide to offer (IVR progress: the key, a prompt ending, the answer) */
const UUID_ONE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
const CALLER_TRIGGERS = new Set(['DTMF', 'CHANNEL_EXECUTE_COMPLETE', 'CHANNEL_ANSWER', 'CHANNEL_PARK']);
/** a decision whose newest trigger is older than this was caused by something we do not see (re-offer timer…) */
const STALE_TRIGGER_MS = 2000;
const TIMER_SLACK_MS = 5;

interface Trigger {
  at: number;
  kind: 'esl' | 'wrap-up timer';
}

/** busy and total jiffies of the whole host (all cores), from /proc/stat */
function hostJiffies(): { busy: number; total: number } {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return { busy: NaN, total: NaN };
  }
}

/** CPU seconds of reaped children (ffmpeg/ffprobe of the recording compressor), from /proc/self/stat */
function childrenCpuS(): number {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[13]) + Number(fields[14])) / CLK_TCK;
  } catch {
    return NaN;
  }
}
const CLK_TCK = 100;

export interface ProbeWindow {
  seconds: number;
  eslEvents: number;
  decisionsEslMs: number[];
  decisionsAfterWrapUpTimerMs: number[];
  decisionsUntriggered: number;
  dtmfToCommandMs: number[];
  /** the caller's last ESL input → engine.enqueue (IVR queue node + inbound pipeline: DB, Redis, switch replies) */
  triggerToEnqueueMs: number[];
  /** engine.enqueue → the originate written, when an agent was free (the engine's Lua run + offer) */
  enqueueToOriginateMs: number[];
  cpuPercent: number;
  /** the whole host, all cores (100 % = every core busy): CPU contention shows as event-loop delay in the CTI */
  hostCpuPercent: number;
  /** ffmpeg/ffprobe children of the CTI (recording compression), % of one core */
  childrenCpuPercent: number;
  elu: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  rssIdleMb: number;
  rssPeakMb: number;
  peakLiveCalls: number;
  /** filled by the caller: how long each child_process.spawn() blocked the loop (SpawnTimer) */
  spawnBlockMs?: number[];
}

export class CtiProbe {
  private events = 0;
  private readonly callerTrig = new Map<string, number>();
  private readonly agentTrig = new Map<string, Trigger>();
  private readonly legAgent = new Map<string, string>();
  private readonly dtmfPending = new Map<string, number>();
  /** bgapi Job-UUID → the channel it was about (first UUID in the command) */
  private readonly jobCall = new Map<string, string>();
  private decisionsEsl: number[] = [];
  /** caller → when the queue handler called engine.enqueue (splits the decision into pipeline and engine parts) */
  private readonly enqueuedAt = new Map<string, number>();
  private triggerToEnqueue: number[] = [];
  private enqueueToOriginate: number[] = [];
  private decisionsTimer: number[] = [];
  private untriggered = 0;
  private dtmf: number[] = [];
  private t0 = 0;
  private cpu0: NodeJS.CpuUsage = process.cpuUsage();
  private elu0: EventLoopUtilization = performance.eventLoopUtilization();
  private loop: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  private host0 = hostJiffies();
  private children0 = childrenCpuS();
  private rssIdle = 0;
  private rssPeak = 0;
  private peakLive = 0;
  private sampler: NodeJS.Timeout | undefined;
  private readonly detach: (() => void)[] = [];

  constructor(
    private readonly cluster: EslCluster,
    engine: AcdEngine | undefined,
    private readonly liveCalls: () => number,
    /** the bench group's wrap-up time */
    private readonly wrapUpMs = 0,
  ) {
    const onEvent = (ev: EslEvent) => {
      this.events++;
      if (ev.name === 'BACKGROUND_JOB') {
        const job = ev.headers['Job-UUID'];
        const call = job ? this.jobCall.get(job) : undefined;
        if (job && call) {
          this.jobCall.delete(job);
          if (this.callerTrig.has(call)) this.callerTrig.set(call, ev.receivedAt);
        }
        return;
      }
      const uuid = ev.uuid;
      if (!uuid) return;
      if (CALLER_TRIGGERS.has(ev.name)) this.callerTrig.set(uuid, ev.receivedAt);
      if (ev.name === 'DTMF') this.dtmfPending.set(uuid, ev.receivedAt);
      if (ev.name === 'CHANNEL_HANGUP') {
        const agent = this.legAgent.get(uuid);
        // freeing the agent counts only without wrap-up (otherwise the wrap-up timer frees it)
        if (agent && !(this.agentTrig.get(agent)?.kind === 'wrap-up timer' && this.agentTrig.get(agent)!.at > ev.receivedAt)) this.agentTrig.set(agent, { at: ev.receivedAt, kind: 'esl' });
      }
      if (ev.name === 'CHANNEL_DESTROY') {
        this.callerTrig.delete(uuid);
        this.legAgent.delete(uuid);
        this.dtmfPending.delete(uuid);
        this.enqueuedAt.delete(uuid);
      }
    };
    cluster.on('event', onEvent);
    this.detach.push(() => cluster.off('event', onEvent));
    for (const node of cluster.nodes) {
      const onCommand = (text: string, kind: string, at: number, id: string) => {
        // a bgapi's result (BACKGROUND_JOB) is the switch's answer the CTI may be waiting on before it decides
        if (kind === 'bgapi') {
          const call = UUID_ONE.exec(text)?.[0];
          if (call) this.jobCall.set(id, call);
        }
        this.onCommand(text, at);
      };
      node.on('command', onCommand);
      this.detach.push(() => node.off('command', onCommand));
    }
    if (engine) {
      // instance-level wrap (the queue task calls engine.enqueue by property), removed on close
      const enqueue = engine.enqueue;
      engine.enqueue = (req) => {
        const at = performance.now();
        this.enqueuedAt.set(req.callUuid, at);
        const trig = this.callerTrig.get(req.callUuid);
        if (trig !== undefined) this.triggerToEnqueue.push(at - trig);
        const result = enqueue.call(engine, req);
        // queued (no agent free): a later originate is the queue wait, not the engine's decision time
        void result.then((r) => r.status !== 'offered' && this.enqueuedAt.delete(req.callUuid), () => this.enqueuedAt.delete(req.callUuid));
        return result;
      };
      this.detach.push(() => {
        engine.enqueue = enqueue;
      });
      // an agent leaving wrap-up by its timer frees it without any ESL event: such decisions are reported apart
      const onState = (e: AgentStateEvent) => {
        // the wrap-up timer is due wrapUpMs after the agent entered wrap-up (the originate can go out before this
        // emit: the same Lua run that ends wrap-up also dispatches)
        // (tr.at is the engine's epoch ms of the transition, the base of its timer; mapped to performance.now())
        if (e.to === 'wrap_up') this.agentTrig.set(e.agentId, { at: e.at + this.wrapUpMs - performance.timeOrigin, kind: 'wrap-up timer' });
      };
      engine.on('agentState', onState);
      this.detach.push(() => engine.off('agentState', onState));
    }
  }

  private onCommand(text: string, at: number): void {
    if (this.dtmfPending.size > 0) {
      for (const m of text.matchAll(UUID_RE)) {
        const d = this.dtmfPending.get(m[0]);
        if (d !== undefined) {
          this.dtmf.push(at - d);
          this.dtmfPending.delete(m[0]);
          break;
        }
      }
    }
    if (!text.startsWith('originate ')) return;
    const call = /hotline_queue_call=([0-9a-f-]{36})/.exec(text)?.[1];
    let agent: string | undefined;
    for (const m of text.matchAll(/origination_uuid=([0-9a-f-]{36}),hotline_agent=([^,\]]+)/g)) {
      this.legAgent.set(m[1]!, m[2]!);
      agent ??= m[2]!;
    }
    const enq = call ? this.enqueuedAt.get(call) : undefined;
    if (call && enq !== undefined) {
      // only the first offer after the enqueue: the engine part of a caller-triggered decision
      this.enqueueToOriginate.push(at - enq);
      this.enqueuedAt.delete(call);
    }
    // originates without a queued call (call control's consult/three-way legs) are not ACD decisions
    if (!call) return;
    const candidates: Trigger[] = [];
    const c = call ? this.callerTrig.get(call) : undefined;
    if (c !== undefined) candidates.push({ at: c, kind: 'esl' });
    const a = agent ? this.agentTrig.get(agent) : undefined;
    if (a) candidates.push(a);
    // a timer's due time is computed to the ms: allow it to be a little after the write (latency clipped at 0)
    const newest = candidates.filter((t) => t.at <= at + TIMER_SLACK_MS).sort((x, y) => y.at - x.at)[0];
    if (!newest || at - newest.at > STALE_TRIGGER_MS) this.untriggered++;
    else if (newest.kind === 'esl') this.decisionsEsl.push(at - newest.at);
    else this.decisionsTimer.push(Math.max(0, at - newest.at));
  }

  /** start a measurement window */
  begin(): void {
    this.events = 0;
    this.decisionsEsl = [];
    this.decisionsTimer = [];
    this.untriggered = 0;
    this.dtmf = [];
    this.triggerToEnqueue = [];
    this.enqueueToOriginate = [];
    this.t0 = performance.now();
    this.cpu0 = process.cpuUsage();
    this.elu0 = performance.eventLoopUtilization();
    this.host0 = hostJiffies();
    this.children0 = childrenCpuS();
    this.loop.disable();
    this.loop = monitorEventLoopDelay({ resolution: 10 });
    this.loop.enable();
    this.rssIdle = process.memoryUsage().rss;
    this.rssPeak = this.rssIdle;
    this.peakLive = 0;
    clearInterval(this.sampler);
    this.sampler = setInterval(() => {
      const live = this.liveCalls();
      const rss = process.memoryUsage().rss;
      // RSS "at peak" is RSS when the live calls peak, so RSS per call is not inflated by later garbage
      if (live > this.peakLive) {
        this.peakLive = live;
        this.rssPeak = rss;
      }
    }, 250);
  }

  end(): ProbeWindow {
    clearInterval(this.sampler);
    this.sampler = undefined;
    this.loop.disable();
    const seconds = (performance.now() - this.t0) / 1000;
    const cpu = process.cpuUsage(this.cpu0);
    const elu = performance.eventLoopUtilization(this.elu0);
    const host = hostJiffies();
    return {
      hostCpuPercent: ((host.busy - this.host0.busy) / (host.total - this.host0.total)) * 100,
      childrenCpuPercent: ((childrenCpuS() - this.children0) / seconds) * 100,
      seconds,
      eslEvents: this.events,
      decisionsEslMs: this.decisionsEsl,
      decisionsAfterWrapUpTimerMs: this.decisionsTimer,
      decisionsUntriggered: this.untriggered,
      dtmfToCommandMs: this.dtmf,
      triggerToEnqueueMs: this.triggerToEnqueue,
      enqueueToOriginateMs: this.enqueueToOriginate,
      cpuPercent: ((cpu.user + cpu.system) / 1000 / (seconds * 1000)) * 100,
      elu: elu.utilization,
      loopDelayP99Ms: this.loop.percentile(99) / 1e6,
      loopDelayMaxMs: this.loop.max / 1e6,
      rssIdleMb: this.rssIdle / 1e6,
      rssPeakMb: this.rssPeak / 1e6,
      peakLiveCalls: this.peakLive,
    };
  }

  close(): void {
    clearInterval(this.sampler);
    this.loop.disable();
    for (const d of this.detach) d();
  }
}
