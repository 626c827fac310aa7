// Several FreeSWITCH nodes behind one facade: which node owns which channel, and where new originates go.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { EslNode, type EslNodeOptions, type EslNodeHealth, type ResyncInfo } from './esl-node.js';
import type { ChannelRow, EslEvent } from './event.js';
import type { EslMetrics } from './metrics.js';
import { EslDisconnectedError } from './errors.js';

export interface EslClusterOptions extends Omit<EslNodeOptions, 'host' | 'port' | 'name'> {
  nodes: { host: string; port: number; name?: string }[];
}

export interface EslClusterEvents {
  event: [EslEvent, EslNode];
  resync: [ChannelRow[], EslNode, ResyncInfo];
  connected: [EslNode];
  disconnected: [EslNode];
}

export class EslCluster extends EventEmitter<EslClusterEvents> {
  readonly nodes: readonly EslNode[];
  /** channel UUID → the node it lives on */
  private readonly owner = new Map<string, EslNode>();
  /** arrival time of the last event per channel, so a resync does not drop channels newer than its rows */
  private readonly seenAt = new Map<string, number>();
  private rr = 0;

  constructor(nodes: EslNode[]);
  constructor(options: EslClusterOptions, log?: Logger, metrics?: EslMetrics);
  constructor(arg: EslNode[] | EslClusterOptions) {
    super();
    this.nodes = Array.isArray(arg)
      ? arg
      : arg.nodes.map(({ host, port, name }) => new EslNode({ ...arg, host, port, name }));
    for (const node of this.nodes) this.wire(node);
  }

  start(): void {
    for (const n of this.nodes) n.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    this.owner.clear();
    this.seenAt.clear();
  }

  /** Resolves when at least `min` nodes (default all) are connected. */
  async waitConnected(timeoutMs = 10_000, min = this.nodes.length): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.nodes.filter((n) => n.isConnected).length < min) {
      if (Date.now() > deadline) throw new EslDisconnectedError(`cluster: ${min} node(s) connected`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  byName(name: string): EslNode | undefined {
    return this.nodes.find((n) => n.name === name);
  }

  /** The node a channel lives on, if known (from its events or a resync). */
  nodeFor(uuid: string): EslNode | undefined {
    return this.owner.get(uuid);
  }

  /** Record that a channel is on `node` before its first event (e.g. an originate with origination_uuid). */
  claim(uuid: string, node: EslNode): void {
    this.owner.set(uuid, node);
  }

  get trackedChannels(): number {
    return this.owner.size;
  }

  /**
   * The node for a new originate: connected nodes only; lowest session load (Session-Count / Max-Sessions from
   * HEARTBEAT, then idle CPU); ties (or no heartbeat yet) go round-robin.
   */
  pickNode(): EslNode {
    const up = this.nodes.filter((n) => n.isConnected);
    if (up.length === 0) throw new EslDisconnectedError('pick node: no FreeSWITCH node is connected');
    const load = (h: EslNodeHealth): number => {
      if (h.sessions === null) return 0;
      const max = h.maxSessions && h.maxSessions > 0 ? h.maxSessions : 1000;
      const sessionLoad = h.sessions / max;
      const cpuLoad = h.idleCpu === null ? 0 : (100 - h.idleCpu) / 100;
      return Math.max(sessionLoad, cpuLoad);
    };
    const scored = up.map((n) => ({ n, l: Math.round(load(n.health()) * 100) }));
    const best = Math.min(...scored.map((s) => s.l));
    const candidates = scored.filter((s) => s.l === best).map((s) => s.n);
    const chosen = candidates[this.rr++ % candidates.length]!;
    return chosen;
  }

  health(): EslNodeHealth[] {
    return this.nodes.map((n) => n.health());
  }

  private wire(node: EslNode): void {
    node.on('event', (ev) => {
      if (ev.uuid) {
        if (ev.name === 'CHANNEL_DESTROY') {
          this.owner.delete(ev.uuid);
          this.seenAt.delete(ev.uuid);
        } else {
          if (this.owner.get(ev.uuid) !== node) this.owner.set(ev.uuid, node);
          this.seenAt.set(ev.uuid, ev.receivedAt);
        }
      }
      this.emit('event', ev, node);
    });
    node.on('resync', (rows, info) => {
      // the node's channels are the rows, plus any whose events arrived after the rows were asked for
      for (const [uuid, n] of this.owner) if (n === node && (this.seenAt.get(uuid) ?? 0) < info.requestedAt) this.owner.delete(uuid);
      for (const row of rows) this.owner.set(row.uuid, node);
      this.emit('resync', rows, node, info);
    });
    node.on('connected', () => this.emit('connected', node));
    node.on('disconnected', () => this.emit('disconnected', node));
  }
}
