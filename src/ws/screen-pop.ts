// The screen pop an agent sees with a call offer (seed 002 (1)): caller number, name, address and registration
// from the caller directory, the IVR path taken, and the caller's previous calls with the agents who took them.
// Used twice: by the queue task at enqueue (createQueueHandler's `screenPop` option) and by the WebSocket layer,
// which fills in whatever an offer's pop lacks (so offers from a queue task without the option still pop fully).
import type pg from 'pg';
import type { ScreenPop } from '../acd/types.js';
import type { QueueRequest } from '../ivr/engine.js';
import type { CallerDirectory } from './caller-directory.js';

export interface PreviousCall {
  callUuid: string;
  at: string;
  agentId: string | null;
  agentLoginId: string | null;
  agentName: string | null;
  talkMs: number;
  finalState: string;
}

/** What `call.offer` carries (docs/agent-protocol.md). */
export interface OfferScreenPop {
  callerNumber: string;
  callerName: string | null;
  callerAddress: string | null;
  callerKind: 'citizen' | 'enterprise' | null;
  vip: boolean;
  registeredAt: string | null;
  ivrPath: string[];
  previousCalls: PreviousCall[];
  /** the IVR flow's variables (business type, ticket number…) */
  vars: Record<string, string>;
}

export interface ScreenPopDeps {
  pool: pg.Pool;
  directory: CallerDirectory;
  /** how many previous calls to show */
  previousCallLimit?: number;
}

export async function previousCalls(pool: pg.Pool, tenantId: string, callerNumber: string, excludeCallUuid: string, limit = 5): Promise<PreviousCall[]> {
  if (!callerNumber) return [];
  const { rows } = await pool.query<{ call_uuid: string; start_at: Date; agent_id: string | null; login_id: string | null; display_name: string | null; talk_ms: number; final_state: string }>(
    `select c.call_uuid, c.start_at, c.agent_id, u.login_id, u.display_name, c.talk_ms, c.final_state
       from cdrs c left join users u on u.id = c.agent_id and u.tenant_id = c.tenant_id
      where c.tenant_id = $1 and c.caller_number = $2 and c.call_uuid <> $3
      order by c.start_at desc limit $4`,
    [tenantId, callerNumber, excludeCallUuid, limit],
  );
  return rows.map((r) => ({
    callUuid: r.call_uuid,
    at: r.start_at.toISOString(),
    agentId: r.agent_id,
    agentLoginId: r.login_id,
    agentName: r.display_name,
    talkMs: r.talk_ms,
    finalState: r.final_state,
  }));
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const stringRecord = (v: unknown): Record<string, string> =>
  v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string')) : {};

/**
 * Completes a pop: directory fields and previous calls are looked up only when the pop does not carry them.
 * `withPreviousCalls: false` skips the cdrs query (the enqueue-time pop: the offer completes them for the agent).
 */
export async function completeScreenPop(deps: ScreenPopDeps, tenantId: string, callUuid: string, pop: ScreenPop, opts: { withPreviousCalls?: boolean } = {}): Promise<OfferScreenPop> {
  const number = pop.callerNumber ?? '';
  const needsDirectory = pop.callerName === undefined || pop.registeredAt === undefined;
  const [caller, previous] = await Promise.all([
    needsDirectory ? deps.directory.lookup(tenantId, number).catch(() => null) : Promise.resolve(null),
    opts.withPreviousCalls === false
      ? Promise.resolve([])
      : Array.isArray(pop.previousCalls) && pop.previousCalls.length > 0 && 'callUuid' in (pop.previousCalls[0] ?? {})
      ? Promise.resolve(pop.previousCalls as unknown as PreviousCall[])
      : previousCalls(deps.pool, tenantId, number, callUuid, deps.previousCallLimit).catch(() => []),
  ]);
  return {
    callerNumber: number,
    callerName: (pop.callerName as string | undefined) ?? caller?.name ?? null,
    callerAddress: (pop.callerAddress as string | undefined) ?? caller?.address ?? null,
    callerKind: (pop.callerKind as OfferScreenPop['callerKind'] | undefined) ?? caller?.kind ?? null,
    vip: typeof pop.vip === 'boolean' ? pop.vip : (caller?.vip ?? false),
    registeredAt: (pop.registeredAt as string | undefined) ?? caller?.registeredAt ?? null,
    ivrPath: strings(pop.ivrPath),
    previousCalls: previous,
    vars: stringRecord(pop.vars),
  };
}

/**
 * For createQueueHandler({ screenPop }): the pop computed once at enqueue, on the caller's node. `ivrPathOf` gives
 * the node ids the call's IVR run went through (the call layer knows them); without it the queue node's flow/node.
 */
export function queueScreenPop(deps: ScreenPopDeps, ivrPathOf?: (callUuid: string) => string[] | undefined) {
  return async (req: QueueRequest): Promise<ScreenPop> => {
    // before the enqueue, on every caller's path to an agent: the previous calls are dropped below, so not queried
    const full = await completeScreenPop(deps, req.tenantId, req.callUuid, {
      callerNumber: req.callerNumber,
      ivrPath: ivrPathOf?.(req.callUuid) ?? [req.flowId, req.nodeId],
      vars: req.vars,
    }, { withPreviousCalls: false });
    return { ...full, callerName: full.callerName ?? undefined, callerAddress: full.callerAddress ?? undefined, previousCalls: undefined } as ScreenPop;
  };
}

/** For createQueueHandler({ isVip }): the VIP flag of the caller's directory record. */
export function callerIsVip(directory: CallerDirectory) {
  return async (tenantId: string, callerNumber: string): Promise<boolean> => (await directory.lookup(tenantId, callerNumber).catch(() => null))?.vip ?? false;
}
