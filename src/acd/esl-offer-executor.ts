// OfferExecutor over ESL: originate the agent leg(s) on the caller's switch with originate_timeout, park it on
// answer, then uuid_bridge it to the parked caller. Ring-all is one originate with comma-separated legs (first to
// answer wins). Mobile agents are reached through the carrier gateway and must press the confirm key
// (group_confirm_key; trace 19). Only src/esl talks to modesl: this uses EslNode.bgapi.
// An offer failing SUBSCRIBER_ABSENT (the directory lookup failed) counts as a missed offer, not 话机离线, unless
// the switch confirms the phone has no registration (provenUnreachable).
import { randomUUID } from 'node:crypto';
import { EslDisconnectedError } from '../esl/errors.js';
import type { ChannelRow } from '../esl/event.js';
import type { OfferExecutor, OfferRequest, OfferResult, OfferedAgent } from './types.js';

/** The part of EslNode this needs. */
export interface BgapiNode {
  bgapi(command: string, opts?: { timeoutMs?: number }): Promise<string>;
  /** to find out, after a reconnect, what became of an originate whose result was lost with the connection */
  waitConnected?(timeoutMs: number): Promise<void>;
  showChannels?(): Promise<ChannelRow[]>;
}

/**
 * After a withdrawn offer's first uuid_kill, how often it is sent again while the originate is still pending: the
 * agent leg may not have existed yet (the originate still inside the switch), and must not ring on (ms).
 */
export const WITHDRAWN_KILL_RETRY_MS = 300;

/** how often the agent legs are looked up in `show channels` while their originate's result is unknown (ms) */
const RECONCILE_POLL_MS = 250;

/** The part of EslCluster this needs: the switch a channel lives on. */
export interface SwitchLocator {
  nodeFor(uuid: string): BgapiNode | undefined;
}

export interface EslOfferExecutorOptions {
  /** SIP domain of a tenant's phones (`user/1001@<domain>`); default: the switch's default domain */
  sipDomain?: (tenantId: string) => string | undefined;
  /** played to a mobile agent on answer, asking for the confirm key */
  confirmFile?: string;
  /** ask the desk phone to answer by itself (soft answer from the agent software) */
  autoAnswer?: boolean;
}

/** Hang-up causes of a failed originate → what the ACD does with the agent. */
export function offerResultForCause(cause: string): 'no_answer' | 'rejected' | 'unreachable' | 'caller_gone' {
  switch (cause) {
    case 'USER_BUSY':
    case 'CALL_REJECTED':
      return 'rejected';
    case 'USER_NOT_REGISTERED':
    case 'SUBSCRIBER_ABSENT':
    case 'NO_ROUTE_DESTINATION':
    case 'UNALLOCATED_NUMBER':
    case 'DESTINATION_OUT_OF_ORDER':
    case 'NETWORK_OUT_OF_ORDER':
    case 'GATEWAY_DOWN':
    case 'INVALID_GATEWAY':
    case 'CHAN_NOT_IMPLEMENTED':
    case 'INVALID_NUMBER_FORMAT':
      return 'unreachable';
    case 'ORIGINATOR_CANCEL':
      return 'caller_gone';
    default:
      // NO_ANSWER, NO_USER_RESPONSE, ALLOTTED_TIMEOUT, RECOVERY_ON_TIMER_EXPIRE, a mobile agent not pressing the key…
      return 'no_answer';
  }
}

/**
 * The cause of `user/<ext>` when the switch could not find the user in its directory (trace 07 (d)): an unknown
 * user, or mod_xml_curl timing out on a slow CTI (the SIPp load run). A phone that is in the directory but not
 * registered fails USER_NOT_REGISTERED instead (trace 07 (e)), which does prove it offline.
 */
const DIRECTORY_LOOKUP_FAILED = 'SUBSCRIBER_ABSENT';
const CONTACT_CHECK_TIMEOUT_MS = 2000;

/** "-ERR NO_ANSWER\n" → "NO_ANSWER" */
function causeOf(err: unknown): string {
  const reply = (err as { reply?: string }).reply ?? (err as Error).message ?? '';
  const m = /-ERR\s+([A-Z_]+)/.exec(reply);
  return m ? m[1]! : '';
}

/** Channel variable values go inside {…}/[…]: no commas, braces, brackets or quotes. */
function safe(v: string): string {
  return v.replace(/[,{}[\]'"\s]/g, '');
}

export class EslOfferExecutor implements OfferExecutor {
  constructor(
    private readonly switches: SwitchLocator,
    private readonly opts: EslOfferExecutorOptions = {},
  ) {}

  /** The dial string of one agent leg, with its own [per-leg] variables. */
  legFor(tenantId: string, agent: OfferedAgent, legUuid: string): string {
    const vars = [`origination_uuid=${legUuid}`, `hotline_agent=${agent.agentId}`];
    const ep = agent.endpoint;
    if (ep.type === 'mobile') {
      vars.push(`group_confirm_key=${safe(ep.confirmKey ?? '1')}`);
      if (this.opts.confirmFile) vars.push(`group_confirm_file=${safe(this.opts.confirmFile)}`);
      return `[${vars.join(',')}]sofia/gateway/${safe(ep.gateway ?? 'carrier')}/${safe(ep.address)}`;
    }
    // only for agents who chose auto-answer for their shift (or every agent when the node is configured so)
    if (this.opts.autoAnswer || ep.autoAnswer) vars.push('sip_auto_answer=true', 'sip_h_Call-Info=<sip:cti>;answer-after=0');
    const domain = this.opts.sipDomain?.(tenantId);
    return `[${vars.join(',')}]user/${safe(ep.address)}${domain ? `@${safe(domain)}` : ''}`;
  }

  originateCommand(req: OfferRequest, legs: { agent: OfferedAgent; uuid: string }[]): string {
    const common = [
      `originate_timeout=${Math.max(1, Math.ceil(req.timeoutMs / 1000))}`,
      'ignore_early_media=true',
      `hotline_queue_call=${req.callUuid}`,
      `origination_caller_id_number=${safe(req.screenPop.callerNumber || 'unknown')}`,
    ];
    const dial = legs.map((l) => this.legFor(req.tenantId, l.agent, l.uuid)).join(',');
    return `originate {${common.join(',')}}${dial} &park()`;
  }

  /**
   * After SUBSCRIBER_ABSENT: true only if no desk phone among the legs has a registration on the switch
   * (`sofia_contact` reads sofia's registration table, no directory lookup). A mobile leg's SUBSCRIBER_ABSENT comes
   * from the carrier (phone switched off) and stands. When the switch cannot be asked, nothing is proven.
   */
  private async provenUnreachable(node: BgapiNode, tenantId: string, agents: OfferedAgent[]): Promise<boolean> {
    const domain = this.opts.sipDomain?.(tenantId);
    for (const agent of agents) {
      if (agent.endpoint.type === 'mobile') continue;
      const contact = await node
        .bgapi(`sofia_contact */${safe(agent.endpoint.address)}${domain ? `@${safe(domain)}` : ''}`, { timeoutMs: CONTACT_CHECK_TIMEOUT_MS })
        .catch(() => '+unknown');
      if (!contact.trim().startsWith('error/')) return false;
    }
    return true;
  }

  async releaseLeg(callUuid: string, legUuid: string): Promise<void> {
    const node = this.switches.nodeFor(callUuid) ?? this.switches.nodeFor(legUuid);
    await node?.bgapi(`uuid_kill ${legUuid} ORIGINATOR_CANCEL`).catch(() => undefined);
  }

  /**
   * The ESL connection dropped while the agent leg(s) rang: the originate runs on in the switch, its result went
   * with the connection. Once the connection is back (before the offer's deadline), the switch's channel list tells
   * what happened meanwhile: a desk-phone leg in callstate ACTIVE answered (parked by the originate's &park(),
   * waiting for the bridge) and is taken as the originate's reply; legs still ringing are looked at again until one
   * answers or the deadline passes, then hung up. Mobile legs are not trusted (ACTIVE does not say the confirm key
   * was pressed). Any other failure, or no answer, rethrows `err`.
   */
  private async afterLostOriginate(
    node: BgapiNode,
    req: OfferRequest,
    legs: { agent: OfferedAgent; uuid: string }[],
    deadline: number,
    err: unknown,
  ): Promise<string> {
    if (!(err instanceof EslDisconnectedError) || !node.waitConnected || !node.showChannels) throw err;
    const killOthers = (keep?: string) =>
      Promise.all(legs.filter((l) => l.uuid !== keep).map((l) => node.bgapi(`uuid_kill ${l.uuid} ORIGINATOR_CANCEL`).catch(() => undefined)));
    while (!req.signal.aborted && Date.now() < deadline) {
      try {
        await node.waitConnected(Math.max(1, deadline - Date.now()));
        const rows = new Map((await node.showChannels()).map((r) => [r.uuid, r]));
        const answered = legs.find((l) => l.agent.endpoint.type !== 'mobile' && rows.get(l.uuid)?.callstate === 'ACTIVE');
        if (answered) {
          await killOthers(answered.uuid);
          return `+OK ${answered.uuid}\n`;
        }
        if (!legs.some((l) => rows.has(l.uuid))) throw err; // rang out or rejected meanwhile
      } catch (e) {
        if (e === err) throw err;
        // still disconnected, or the listing failed: try again until the deadline
      }
      await new Promise((r) => setTimeout(r, RECONCILE_POLL_MS));
    }
    await killOthers();
    throw err;
  }

  async offer(req: OfferRequest): Promise<OfferResult> {
    const node = this.switches.nodeFor(req.callUuid);
    if (!node) return { outcome: 'caller_gone' };
    const legs = [req.agent, ...req.alsoRing].map((agent) => ({ agent, uuid: randomUUID() }));
    const killAll = () =>
      Promise.all(legs.map((l) => node.bgapi(`uuid_kill ${l.uuid} ORIGINATOR_CANCEL`).catch(() => undefined)));
    let killAgain: NodeJS.Timeout | undefined;
    const onAbort = () => {
      void killAll();
      killAgain = setInterval(() => void killAll(), WITHDRAWN_KILL_RETRY_MS);
    };
    req.signal.addEventListener('abort', onAbort, { once: true });
    const startedAt = Date.now();
    try {
      let body: string;
      try {
        body = await node
          .bgapi(this.originateCommand(req, legs), { timeoutMs: req.timeoutMs + 10_000 })
          .catch((err: unknown) => this.afterLostOriginate(node, req, legs, startedAt + req.timeoutMs, err));
      } catch (err) {
        if (req.signal.aborted) return { outcome: 'caller_gone' };
        const cause = causeOf(err);
        let outcome = offerResultForCause(cause);
        if (outcome === 'caller_gone') return { outcome };
        // a failed directory lookup is not proof the phone is offline: only sofia's registrations are
        if (cause === DIRECTORY_LOOKUP_FAILED && !(await this.provenUnreachable(node, req.tenantId, legs.map((l) => l.agent)))) {
          if (req.signal.aborted) return { outcome: 'caller_gone' };
          outcome = 'no_answer';
        }
        // one leg: the failure is that agent's; ring-all: nobody answered
        return legs.length === 1 ? { outcome, agentId: req.agent.agentId } : { outcome };
      }
      const answeredUuid = /\+OK\s+([0-9a-f-]{36})/i.exec(body)?.[1];
      const leg = legs.find((l) => l.uuid === answeredUuid) ?? legs[0]!;
      if (req.signal.aborted) {
        await node.bgapi(`uuid_kill ${leg.uuid} ORIGINATOR_CANCEL`).catch(() => undefined);
        return { outcome: 'caller_gone' };
      }
      try {
        await node.bgapi(`uuid_bridge ${req.callUuid} ${leg.uuid}`);
      } catch {
        // the caller hung up while the agent answered: release the agent's phone
        await node.bgapi(`uuid_kill ${leg.uuid} ORIGINATOR_CANCEL`).catch(() => undefined);
        return { outcome: 'caller_gone' };
      }
      return { outcome: 'answered', agentId: leg.agent.agentId, legUuid: leg.uuid };
    } finally {
      req.signal.removeEventListener('abort', onAbort);
      clearInterval(killAgain);
    }
  }
}
