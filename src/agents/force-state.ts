// A supervisor sets an agent's state (强制置闲/置忙/签出). One implementation for REST and the wallboard socket;
// each transport maps the refusal to its own error shape.
import { eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { users, tenantScope } from '../db/schema/index.js';
import type { AcdEngine, AgentSnapshot } from '../acd/engine.js';

export type ForcedState = 'ready' | 'not_ready' | 'logged_out';

/** `not_found`: no such agent in this tenant; otherwise the AcdEngine result kind that refused the change. */
export class ForceStateRefused extends Error {
  override name = 'ForceStateRefused';
  constructor(readonly kind: string) {
    super(`force state refused: ${kind}`);
  }
}

export const signedOutSnapshot = (agentId: string, tenantId = ''): AgentSnapshot => ({
  agentId, tenantId, state: 'logged_out', reason: '', since: null, callUuid: null, callsToday: 0, misses: 0, endpoint: null, pendingNotReady: null, groups: [],
});

/** The agent's live state within the tenant; another center's agent is not found. */
export async function tenantAgentSnapshot(engine: AcdEngine, tenantId: string, agentId: string): Promise<AgentSnapshot> {
  const s = await engine.agent(agentId);
  if (s && s.tenantId && s.tenantId !== tenantId) throw new ForceStateRefused('not_found');
  return s ?? signedOutSnapshot(agentId, tenantId);
}

/**
 * The state of an agent named by a request (a supervisor's id): a live agent of this center, or one of this center's
 * users signed out. An unknown id and another center's agent, signed in or not, are refused alike ('not_found'),
 * after the same user lookup, so the answer does not tell whether the id exists elsewhere.
 */
export async function centerAgentSnapshot(db: Db, engine: AcdEngine, tenantId: string, agentId: string): Promise<AgentSnapshot> {
  const s = await engine.agent(agentId);
  if (s && s.tenantId === tenantId && s.state !== 'logged_out') return s;
  const [u] = await db.select({ id: users.id }).from(users).where(tenantScope(users.tenantId, tenantId, eq(users.id, agentId)));
  if (!u || (s && s.tenantId && s.tenantId !== tenantId)) throw new ForceStateRefused('not_found');
  return s ?? signedOutSnapshot(agentId, tenantId);
}

export async function forceAgentState(db: Db, engine: AcdEngine, tenantId: string, agentId: string, state: ForcedState, reason?: string): Promise<AgentSnapshot> {
  const before = await centerAgentSnapshot(db, engine, tenantId, agentId);
  if (before.state === 'logged_out' && state !== 'logged_out') throw new ForceStateRefused('logged_out');
  const kind =
    state === 'ready'
      ? await engine.setReady(agentId)
      : state === 'not_ready'
        ? await engine.setNotReady(agentId, reason ?? '忙碌')
        : await engine.logout(agentId, true);
  if (kind !== 'ok' && kind !== 'pending') throw new ForceStateRefused(kind);
  return tenantAgentSnapshot(engine, tenantId, agentId);
}
