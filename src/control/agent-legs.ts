// The agents' phone legs as the switches report them: every leg dialled to an agent carries hotline_agent=<id>
// (EslOfferExecutor for ACD offers, CallControl for transfers/consults/pickups), so every CTI node sees every
// agent's ringing leg in the event stream, whichever node owns the call. Used for the soft answer (uuid_phone_event
// <leg> talk on the ringing leg) and to move an agent reserved for an offer to ringing when the phone rings.
import { EventEmitter } from 'node:events';
import type { EslEvent } from '../esl/event.js';

export interface AgentLeg {
  uuid: string;
  agentId: string;
  /** the switch the leg lives on (EslNode.name) */
  node: string;
  /** the call this leg is for: hotline_queue_call (ACD offer) or hotline_call (a transfer by call control) */
  queueCall?: string;
  ringing: boolean;
  answered: boolean;
  createdAt: number;
}

export interface AgentLegEvents {
  /** the agent's phone started ringing (180/183 on the agent leg) */
  ringing: [AgentLeg];
}

/** Where the events come from (EslCluster). */
export interface EventSource {
  on(event: 'event', listener: (ev: EslEvent) => void): unknown;
  off(event: 'event', listener: (ev: EslEvent) => void): unknown;
}

export class AgentLegs extends EventEmitter<AgentLegEvents> {
  private readonly legs = new Map<string, AgentLeg>();
  private readonly byAgent = new Map<string, Set<string>>();
  private readonly onEvent = (ev: EslEvent): void => this.handle(ev);

  constructor(private readonly source: EventSource) {
    super();
  }

  start(): this {
    this.source.on('event', this.onEvent);
    return this;
  }

  stop(): void {
    this.source.off('event', this.onEvent);
    this.legs.clear();
    this.byAgent.clear();
  }

  /** The agent's newest leg that rings and is not answered yet (what a soft answer makes the phone pick up). */
  ringingLegOf(agentId: string, queueCall?: string): AgentLeg | undefined {
    let best: AgentLeg | undefined;
    for (const uuid of this.byAgent.get(agentId) ?? []) {
      const l = this.legs.get(uuid);
      if (!l || l.answered) continue;
      if (queueCall !== undefined && l.queueCall !== undefined && l.queueCall !== queueCall) continue;
      if (!best || l.createdAt >= best.createdAt) best = l;
    }
    return best;
  }

  get size(): number {
    return this.legs.size;
  }

  private handle(ev: EslEvent): void {
    const uuid = ev.uuid;
    if (!uuid) return;
    switch (ev.name) {
      case 'CHANNEL_CREATE':
      case 'CHANNEL_PROGRESS':
      case 'CHANNEL_PROGRESS_MEDIA':
      case 'CHANNEL_ANSWER': {
        let leg = this.legs.get(uuid);
        if (!leg) {
          const agentId = ev.headers['variable_hotline_agent'];
          if (!agentId) return;
          leg = { uuid, agentId, node: ev.node, queueCall: ev.headers['variable_hotline_queue_call'] || ev.headers['variable_hotline_call'] || undefined, ringing: false, answered: false, createdAt: Date.now() };
          this.legs.set(uuid, leg);
          let set = this.byAgent.get(agentId);
          if (!set) this.byAgent.set(agentId, (set = new Set()));
          set.add(uuid);
        }
        if (ev.name === 'CHANNEL_ANSWER') leg.answered = true;
        else if (ev.name !== 'CHANNEL_CREATE' && !leg.ringing && !leg.answered) {
          leg.ringing = true;
          this.emit('ringing', leg);
        }
        return;
      }
      case 'CHANNEL_HANGUP':
      case 'CHANNEL_DESTROY': {
        const leg = this.legs.get(uuid);
        if (!leg) return;
        this.legs.delete(uuid);
        const set = this.byAgent.get(leg.agentId);
        set?.delete(uuid);
        if (set && set.size === 0) this.byAgent.delete(leg.agentId);
        return;
      }
    }
  }
}
