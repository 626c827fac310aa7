// Runs the routing Lua scripts (EVALSHA, loaded once) and turns their replies into typed results.
import type { Redis } from 'ioredis';
import { scriptSource, SCRIPTS, type ScriptName } from './lua.js';
import { isAgentState, type AgentState, type AgentTransition } from '../agents/states.js';
import type { OfferedAgent, ScreenPop } from './types.js';

/** A (call, agents) pair the scripts reserved; the call's owner node must now perform the offer. */
export interface Match {
  callUuid: string;
  ownerNode: string;
  groupId: string;
  tenantId: string;
  callerNumber: string;
  screenPop: ScreenPop;
  waitMs: number;
  noAnswerTimeoutMs: number;
  strategy: string;
  agents: OfferedAgent[];
}

export interface ScriptResult {
  kind: string;
  matches: Match[];
  transitions: AgentTransition[];
  extra: string[];
}

type Raw = [string, unknown[][], string[][], string[]];

function parseMatch(m: unknown[]): Match {
  const [callUuid, ownerNode, groupId, tenantId, callerNumber, pop, waitMs, noans, strategy, infos] = m as [
    string, string, string, string, string, string, string, string, string, string[][],
  ];
  let screenPop: ScreenPop = { callerNumber };
  if (pop) {
    try {
      screenPop = JSON.parse(pop) as ScreenPop;
    } catch {
      // a malformed pop must not stop the offer
    }
  }
  return {
    callUuid,
    ownerNode,
    groupId,
    tenantId,
    callerNumber,
    screenPop,
    waitMs: Number(waitMs),
    noAnswerTimeoutMs: Number(noans) || 20_000,
    strategy,
    agents: infos.map(([agentId, ep, addr, ck, gw, , aa]) => ({
      agentId: agentId!,
      endpoint: {
        type: ep === 'mobile' ? 'mobile' : 'sip',
        address: addr ?? '',
        ...(gw ? { gateway: gw } : {}),
        ...(ep === 'mobile' ? { confirmKey: ck || '1' } : {}),
        ...(ep !== 'mobile' && aa === '1' ? { autoAnswer: true } : {}),
      },
    })),
  };
}

function asState(s: string): AgentState {
  return isAgentState(s) ? s : 'logged_out';
}

export class RoutingStore {
  private shas = new Map<ScriptName, string>();

  constructor(
    readonly redis: Redis,
    readonly prefix: string,
    /** minutes east of UTC for "today" (calls-today counters); China has no DST */
    private readonly utcOffsetMinutes = 480,
  ) {}

  key(...parts: string[]): string {
    return `${this.prefix}:${parts.join(':')}`;
  }

  async load(): Promise<void> {
    await Promise.all(
      (Object.keys(SCRIPTS) as ScriptName[]).map(async (name) => {
        const sha = (await this.redis.script('LOAD', scriptSource(name))) as string;
        this.shas.set(name, sha);
      }),
    );
  }

  today(now: number): string {
    return new Date(now + this.utcOffsetMinutes * 60_000).toISOString().slice(0, 10).replaceAll('-', '');
  }

  async run(name: ScriptName, now: number, args: (string | number)[]): Promise<ScriptResult> {
    const argv = [this.prefix, now, Math.random(), this.today(now), ...args];
    let raw: Raw;
    const sha = this.shas.get(name);
    try {
      if (!sha) throw new Error('NOSCRIPT not loaded');
      raw = (await this.redis.evalsha(sha, 0, ...argv)) as Raw;
    } catch (err) {
      if (!String((err as Error).message).includes('NOSCRIPT')) throw err;
      // Redis restarted or flushed its script cache
      raw = (await this.redis.eval(scriptSource(name), 0, ...argv)) as Raw;
      this.shas.delete(name);
      void this.redis.script('LOAD', scriptSource(name)).then((s) => this.shas.set(name, s as string));
    }
    const [kind, matches, trans, extra] = raw;
    return {
      kind,
      matches: (matches ?? []).map(parseMatch),
      transitions: (trans ?? []).map(([agentId, tenantId, from, fromReason, fromSince, to, reason, callUuid, ownerNode]) => ({
        agentId: agentId!,
        tenantId: tenantId ?? '',
        from: asState(from ?? ''),
        fromReason: fromReason ?? '',
        fromSince: fromSince ? Number(fromSince) : null,
        to: asState(to ?? ''),
        reason: reason ?? '',
        at: now,
        ...(callUuid ? { callUuid, ownerNode: ownerNode ?? '' } : {}),
      })),
      extra: (extra ?? []).map(String),
    };
  }
}
