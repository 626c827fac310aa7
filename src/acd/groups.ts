// Skill groups and agent endpoints in PostgreSQL, always within one tenant; every change is mirrored to the
// routing state in Redis through AcdEngine.applyGroup so the queues follow the configuration at once.
import { performance } from 'node:perf_hooks';
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import {
  skillGroups,
  skillGroupMembers,
  agentEndpoints,
  users,
  tenantScope,
  type SkillGroupRow,
  type AgentEndpointRow,
  type AgentEndpointType,
} from '../db/schema/index.js';
import { badRequest, conflict } from '../http/errors.js';
import type { AcdStrategy, OverflowTarget, SkillGroupConfig, SkillGroupMember, AgentEndpoint } from './types.js';

export interface SkillGroupInput {
  name: string;
  code?: string | null;
  strategy?: AcdStrategy;
  priority?: number;
  agingRate?: number;
  vipBoost?: number;
  musicOnHold?: string | null;
  announceIntervalMs?: number;
  maxWaitMs?: number | null;
  overflowOnWait?: OverflowTarget | null;
  maxQueueLength?: number | null;
  overflowOnLength?: OverflowTarget | null;
  noAnswerTimeoutMs?: number;
  wrapUpMs?: number;
  previousAgentEnabled?: boolean;
  previousAgentWindowMs?: number;
  previousAgentWaitMs?: number;
}

function toConfig(row: SkillGroupRow, members: SkillGroupMember[]): SkillGroupConfig {
  return {
    id: row.id,
    tenantId: row.tenantId,
    name: row.name,
    code: row.code,
    strategy: row.strategy,
    priority: row.priority,
    agingRate: row.agingRate,
    vipBoost: row.vipBoost,
    musicOnHold: row.musicOnHold,
    announceIntervalMs: row.announceIntervalMs,
    maxWaitMs: row.maxWaitMs,
    overflowOnWait: row.overflowOnWait,
    maxQueueLength: row.maxQueueLength,
    overflowOnLength: row.overflowOnLength,
    noAnswerTimeoutMs: row.noAnswerTimeoutMs,
    wrapUpMs: row.wrapUpMs,
    previousAgentEnabled: row.previousAgentEnabled,
    previousAgentWindowMs: row.previousAgentWindowMs,
    previousAgentWaitMs: row.previousAgentWaitMs,
    members,
  };
}

async function membersOf(db: Db, tenantId: string, groupIds: string[]): Promise<Map<string, SkillGroupMember[]>> {
  const out = new Map<string, SkillGroupMember[]>();
  if (groupIds.length === 0) return out;
  const rows = await db
    .select()
    .from(skillGroupMembers)
    .where(tenantScope(skillGroupMembers.tenantId, tenantId, inArray(skillGroupMembers.groupId, groupIds)))
    .orderBy(asc(skillGroupMembers.position), asc(skillGroupMembers.agentId));
  for (const r of rows) {
    const list = out.get(r.groupId) ?? [];
    list.push({ agentId: r.agentId, proficiency: r.proficiency, position: r.position });
    out.set(r.groupId, list);
  }
  return out;
}

export async function listGroups(db: Db, tenantId: string): Promise<SkillGroupConfig[]> {
  const rows = await db.select().from(skillGroups).where(eq(skillGroups.tenantId, tenantId)).orderBy(asc(skillGroups.name));
  const members = await membersOf(db, tenantId, rows.map((r) => r.id));
  return rows.map((r) => toConfig(r, members.get(r.id) ?? []));
}

/** Every tenant's groups: what a starting node pushes into Redis. */
export async function listAllGroups(db: Db): Promise<SkillGroupConfig[]> {
  const tenantIds = await db.selectDistinct({ t: skillGroups.tenantId }).from(skillGroups);
  const out: SkillGroupConfig[] = [];
  for (const { t } of tenantIds) out.push(...(await listGroups(db, t)));
  return out;
}

export async function getGroup(db: Db, tenantId: string, id: string): Promise<SkillGroupConfig | null> {
  const [row] = await db.select().from(skillGroups).where(tenantScope(skillGroups.tenantId, tenantId, eq(skillGroups.id, id)));
  if (!row) return null;
  const members = await membersOf(db, tenantId, [id]);
  return toConfig(row, members.get(id) ?? []);
}

async function checkOverflowTargets(db: Db, tenantId: string, selfId: string | null, input: Partial<SkillGroupInput>): Promise<void> {
  for (const field of ['overflowOnWait', 'overflowOnLength'] as const) {
    const t = input[field];
    if (!t) continue;
    if (t.kind === 'group') {
      if (!t.groupId) throw badRequest(`${field}.groupId`, '溢出到技能组时必须指定目标技能组');
      if (t.groupId === selfId) throw badRequest(`${field}.groupId`, '不能溢出到本技能组');
      const [g] = await db.select({ id: skillGroups.id }).from(skillGroups).where(tenantScope(skillGroups.tenantId, tenantId, eq(skillGroups.id, t.groupId)));
      if (!g) throw badRequest(`${field}.groupId`, '目标技能组不存在');
    }
  }
}

/** null, or which unique field clashed */
function uniqueViolation(err: unknown): 'name' | 'code' | null {
  const e = err as { code?: string; constraint?: string; cause?: { code?: string; constraint?: string } };
  const pg = e?.code === '23505' ? e : e?.cause?.code === '23505' ? e.cause : null;
  if (!pg) return null;
  return pg.constraint === 'skill_groups_tenant_code_uq' ? 'code' : 'name';
}

function clash(field: 'name' | 'code') {
  return field === 'code' ? conflict('group_code_taken', '技能组代码已存在', 'code') : conflict('group_name_taken', '技能组名称已存在', 'name');
}

/** What an IVR flow's `skillGroup` names: a group id, code or name → the group id (null: none in this tenant). */
/**
 * `known`: groups loaded at start. The last answer per reference is reused for 5 s (a renamed group is seen by the
 * next call after that), and for as long as PostgreSQL is unreachable, so callers are still queued during an outage.
 */
export function groupRefResolver(db: Db, known: SkillGroupConfig[] = []) {
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  const remembered = new Map<string, string | null>();
  for (const g of [...known].reverse()) {
    remembered.set(`${g.tenantId}\u0000${g.name}`, g.id);
    if (g.code) remembered.set(`${g.tenantId}\u0000${g.code}`, g.id);
  }
  // a flow names the same group for every call: one lookup per reference per FRESH_MS, not one per call
  const FRESH_MS = 5000;
  const checkedAt = new Map<string, number>();
  return async (tenantId: string, ref: string): Promise<string | null> => {
    const key = `${tenantId}\u0000${ref}`;
    const at = checkedAt.get(key);
    if (at !== undefined && performance.now() - at < FRESH_MS && remembered.has(key)) return remembered.get(key)!;
    const by = UUID.test(ref) ? eq(skillGroups.id, ref) : sql`(${skillGroups.code} = ${ref} or ${skillGroups.name} = ${ref})`;
    try {
      const rows = await db.select({ id: skillGroups.id, code: skillGroups.code }).from(skillGroups).where(tenantScope(skillGroups.tenantId, tenantId, by));
      const id = (rows.find((r) => r.code === ref) ?? rows[0])?.id ?? null;
      remembered.set(key, id);
      checkedAt.set(key, performance.now());
      return id;
    } catch (err) {
      if (remembered.has(key)) return remembered.get(key)!;
      throw err;
    }
  };
}

export async function createGroup(db: Db, tenantId: string, input: SkillGroupInput): Promise<SkillGroupConfig> {
  await checkOverflowTargets(db, tenantId, null, input);
  try {
    const [row] = await db.insert(skillGroups).values({ ...input, tenantId }).returning();
    return toConfig(row!, []);
  } catch (err) {
    const field = uniqueViolation(err);
    if (field) throw clash(field);
    throw err;
  }
}

export async function updateGroup(db: Db, tenantId: string, id: string, patch: Partial<SkillGroupInput>): Promise<SkillGroupConfig | null> {
  await checkOverflowTargets(db, tenantId, id, patch);
  try {
    const [row] = await db
      .update(skillGroups)
      .set({ ...patch, updatedAt: sql`now()` })
      .where(tenantScope(skillGroups.tenantId, tenantId, eq(skillGroups.id, id)))
      .returning();
    if (!row) return null;
    const members = await membersOf(db, tenantId, [id]);
    return toConfig(row, members.get(id) ?? []);
  } catch (err) {
    const field = uniqueViolation(err);
    if (field) throw clash(field);
    throw err;
  }
}

export async function deleteGroup(db: Db, tenantId: string, id: string): Promise<boolean> {
  const rows = await db.delete(skillGroups).where(tenantScope(skillGroups.tenantId, tenantId, eq(skillGroups.id, id))).returning({ id: skillGroups.id });
  return rows.length > 0;
}

/** Replace a group's members. Every agent must be a user of the same tenant. */
export async function setMembers(
  db: Db,
  tenantId: string,
  groupId: string,
  members: { agentId: string; proficiency?: number; position?: number }[],
): Promise<SkillGroupConfig | null> {
  const ids = [...new Set(members.map((m) => m.agentId))];
  if (ids.length !== members.length) throw badRequest('members', '座席重复');
  if (ids.length > 0) {
    const found = await db.select({ id: users.id }).from(users).where(tenantScope(users.tenantId, tenantId, inArray(users.id, ids)));
    const known = new Set(found.map((r) => r.id));
    const missing = ids.find((x) => !known.has(x));
    if (missing) throw badRequest('members', `座席不存在：${missing}`);
  }
  return db.transaction(async (tx) => {
    const [g] = await tx
      .select({ id: skillGroups.id })
      .from(skillGroups)
      .where(tenantScope(skillGroups.tenantId, tenantId, eq(skillGroups.id, groupId)))
      .for('update');
    if (!g) return null;
    await tx.delete(skillGroupMembers).where(tenantScope(skillGroupMembers.tenantId, tenantId, eq(skillGroupMembers.groupId, groupId)));
    if (members.length > 0) {
      await tx.insert(skillGroupMembers).values(
        members.map((m, i) => ({ tenantId, groupId, agentId: m.agentId, proficiency: m.proficiency ?? 3, position: m.position ?? i })),
      );
    }
    await tx.update(skillGroups).set({ updatedAt: sql`now()` }).where(eq(skillGroups.id, groupId));
    return getGroup(tx as unknown as Db, tenantId, groupId);
  });
}

// ---------------------------------------------------------------------------------------------- endpoints

export interface AgentEndpointInput {
  type: AgentEndpointType;
  address: string;
  gateway?: string | null;
  confirmKey?: string | null;
  isDefault?: boolean;
}

export async function listEndpoints(db: Db, tenantId: string, agentId: string): Promise<AgentEndpointRow[]> {
  return db
    .select()
    .from(agentEndpoints)
    .where(tenantScope(agentEndpoints.tenantId, tenantId, eq(agentEndpoints.agentId, agentId)))
    .orderBy(asc(agentEndpoints.createdAt));
}

/** Replace the phones an agent may sign in with. Mobile endpoints default to confirm key "1". */
export async function setEndpoints(db: Db, tenantId: string, agentId: string, input: AgentEndpointInput[]): Promise<AgentEndpointRow[] | null> {
  const [u] = await db.select({ id: users.id }).from(users).where(tenantScope(users.tenantId, tenantId, eq(users.id, agentId)));
  if (!u) return null;
  if (input.filter((e) => e.isDefault).length > 1) throw badRequest('endpoints', '只能有一个默认话机');
  await db.transaction(async (tx) => {
    await tx.delete(agentEndpoints).where(and(eq(agentEndpoints.tenantId, tenantId), eq(agentEndpoints.agentId, agentId)));
    if (input.length > 0) {
      await tx.insert(agentEndpoints).values(
        input.map((e) => ({
          tenantId,
          agentId,
          type: e.type,
          address: e.address,
          gateway: e.type === 'mobile' ? (e.gateway ?? null) : null,
          confirmKey: e.type === 'mobile' ? (e.confirmKey ?? '1') : null,
          isDefault: e.isDefault ?? false,
        })),
      );
    }
  });
  return listEndpoints(db, tenantId, agentId);
}

/**
 * The endpoint an agent signs in with: the one chosen (by id), else their default endpoint, else the desk phone
 * from their user record (users.extension). Null when the agent has no phone at all.
 */
export async function resolveEndpoint(db: Db, tenantId: string, agentId: string, endpointId?: string): Promise<AgentEndpoint | null> {
  const list = await listEndpoints(db, tenantId, agentId);
  const chosen = endpointId ? list.find((e) => e.id === endpointId) : (list.find((e) => e.isDefault) ?? undefined);
  if (endpointId && !chosen) return null;
  if (chosen) {
    return {
      type: chosen.type,
      address: chosen.address,
      ...(chosen.gateway ? { gateway: chosen.gateway } : {}),
      ...(chosen.type === 'mobile' ? { confirmKey: chosen.confirmKey ?? '1' } : {}),
    };
  }
  const [u] = await db.select({ extension: users.extension }).from(users).where(tenantScope(users.tenantId, tenantId, eq(users.id, agentId)));
  if (u?.extension) return { type: 'sip', address: u.extension };
  return list[0] ? { type: list[0].type, address: list[0].address } : null;
}
