// The agent state commands behind /ws/agent, making the same AcdEngine calls as the REST routes in
// src/agents/routes.ts and refusing with the same codes, so REST and WebSocket behave identically.
import { eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { users, tenantScope } from '../db/schema/index.js';
import type { AcdEngine, AgentSnapshot } from '../acd/engine.js';
import type { AgentEndpoint } from '../acd/types.js';
import { listEndpoints, resolveEndpoint } from '../acd/groups.js';
import { refusalFor, WsCommandError } from './protocol.js';
import { forceAgentState, ForceStateRefused, signedOutSnapshot, tenantAgentSnapshot, type ForcedState } from '../agents/force-state.js';

export { signedOutSnapshot };

/** The agent's live state, only within the tenant (another center's agent reads as not found). */
export async function agentSnapshot(engine: AcdEngine, tenantId: string, agentId: string): Promise<AgentSnapshot> {
  try {
    return await tenantAgentSnapshot(engine, tenantId, agentId);
  } catch (err) {
    if (err instanceof ForceStateRefused) throw new WsCommandError('agent_not_found');
    throw err;
  }
}

export interface PhoneChoice {
  endpointId?: string | undefined;
  extension?: string | undefined;
  mobile?: string | undefined;
  /** the desk phone answers offers by itself (auto-answer header) */
  autoAnswer?: boolean | undefined;
}

/**
 * The phone for this shift: a configured endpoint by id, or an extension / mobile number that is one of the agent's
 * configured phones (or the desk extension / mobile on their user record). Arbitrary numbers are refused: the
 * switch would dial them at the center's expense.
 */
export async function choosePhone(db: Db, tenantId: string, agentId: string, choice: PhoneChoice): Promise<AgentEndpoint> {
  if (!choice.extension && !choice.mobile) {
    const ep = await resolveEndpoint(db, tenantId, agentId, choice.endpointId);
    if (!ep) throw new WsCommandError('no_phone', choice.endpointId ? 'endpointId' : undefined);
    return ep;
  }
  const type = choice.extension ? 'sip' : 'mobile';
  const address = (choice.extension ?? choice.mobile)!;
  const configured = (await listEndpoints(db, tenantId, agentId)).find((e) => e.type === type && e.address === address);
  if (configured) {
    return {
      type,
      address,
      ...(configured.gateway ? { gateway: configured.gateway } : {}),
      ...(type === 'mobile' ? { confirmKey: configured.confirmKey ?? '1' } : {}),
    };
  }
  const [u] = await db.select({ extension: users.extension, mobile: users.mobile }).from(users).where(tenantScope(users.tenantId, tenantId, eq(users.id, agentId)));
  if (type === 'sip' && u?.extension === address) return { type, address };
  if (type === 'mobile' && u?.mobile === address) return { type, address, confirmKey: '1' };
  throw new WsCommandError('no_phone', type === 'sip' ? 'extension' : 'mobile');
}

export class AgentCommands {
  constructor(
    private readonly db: Db,
    private readonly engine: AcdEngine,
  ) {}

  async signIn(tenantId: string, agentId: string, choice: PhoneChoice): Promise<AgentSnapshot> {
    const chosen = await choosePhone(this.db, tenantId, agentId, choice);
    // auto-answer is a desk-phone feature; a mobile must accept by key (its voicemail must not take the call)
    const endpoint = choice.autoAnswer && chosen.type === 'sip' ? { ...chosen, autoAnswer: true } : chosen;
    await this.engine.login(agentId, tenantId, endpoint);
    return agentSnapshot(this.engine, tenantId, agentId);
  }

  async signOut(tenantId: string, agentId: string): Promise<AgentSnapshot> {
    const kind = await this.engine.logout(agentId);
    if (kind !== 'ok') throw refusalFor(kind);
    return agentSnapshot(this.engine, tenantId, agentId);
  }

  async ready(tenantId: string, agentId: string): Promise<AgentSnapshot> {
    const kind = await this.engine.setReady(agentId);
    if (kind !== 'ok' && kind !== 'pending') throw refusalFor(kind);
    return agentSnapshot(this.engine, tenantId, agentId);
  }

  async notReady(tenantId: string, agentId: string, reason: string): Promise<AgentSnapshot> {
    const kind = await this.engine.setNotReady(agentId, reason);
    if (kind !== 'ok' && kind !== 'pending') throw refusalFor(kind);
    return agentSnapshot(this.engine, tenantId, agentId);
  }

  async endWrapUp(tenantId: string, agentId: string): Promise<AgentSnapshot> {
    const kind = await this.engine.endWrapUp(agentId);
    if (kind !== 'ok') throw refusalFor(kind);
    return agentSnapshot(this.engine, tenantId, agentId);
  }

  /** A supervisor sets an agent's state (强制置闲/置忙/签出): the same command as POST /agents/:id/force-state. */
  async forceState(tenantId: string, agentId: string, state: ForcedState, reason?: string): Promise<AgentSnapshot> {
    try {
      return await forceAgentState(this.db, this.engine, tenantId, agentId, state, reason);
    } catch (err) {
      if (err instanceof ForceStateRefused) throw err.kind === 'not_found' ? new WsCommandError('agent_not_found', 'agentId') : refusalFor(err.kind);
      throw err;
    }
  }
}
