// Skill groups for the demo center (tenant `demo`, agents 1001-1020 from src/auth/demo-data.ts), matching the
// `skillGroup` codes of ivr-flows/demo/main.yaml. Idempotent: a group whose code exists is left alone.
import { and, eq, inArray } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { skillGroups, users, type AcdStrategy, type OverflowTarget } from '../db/schema/index.js';
import { createGroup, setMembers, setEndpoints, listEndpoints } from './groups.js';

interface DemoGroup {
  code: string;
  name: string;
  strategy: AcdStrategy;
  priority: number;
  /** agents by extension, proficiency 5 for the first two */
  agents: string[];
  overflowOnWait?: OverflowTarget;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

const DEMO_GROUPS: DemoGroup[] = [
  { code: 'general', name: '综合受理', strategy: 'longest_idle', priority: 0, agents: range(1001, 1020) },
  { code: 'consult', name: '政策咨询', strategy: 'longest_idle', priority: 0, agents: range(1001, 1010), overflowOnWait: { kind: 'group', groupId: 'general' } },
  { code: 'complaint', name: '投诉举报', strategy: 'best_proficiency', priority: 5, agents: range(1006, 1013), overflowOnWait: { kind: 'callback' } },
  { code: 'help', name: '紧急求助', strategy: 'ring_all', priority: 20, agents: range(1001, 1005) },
  { code: 'suggestion', name: '意见建议', strategy: 'round_robin', priority: 0, agents: range(1014, 1018), overflowOnWait: { kind: 'voicemail' } },
  { code: 'enterprise', name: '企业专席', strategy: 'fewest_calls', priority: 0, agents: range(1016, 1020), overflowOnWait: { kind: 'group', groupId: 'general' } },
];

export async function ensureDemoSkillGroups(db: Db, tenantId = 'demo'): Promise<string[]> {
  const agents = await db
    .select({ id: users.id, extension: users.extension })
    .from(users)
    .where(and(eq(users.tenantId, tenantId), eq(users.role, 'agent')));
  if (agents.length === 0) return [];
  const idOf = new Map(agents.map((a) => [a.extension ?? '', a.id]));
  const existing = await db
    .select({ id: skillGroups.id, code: skillGroups.code })
    .from(skillGroups)
    .where(and(eq(skillGroups.tenantId, tenantId), inArray(skillGroups.code, DEMO_GROUPS.map((g) => g.code))));
  const byCode = new Map(existing.map((g) => [g.code!, g.id]));
  const created: string[] = [];
  // `general` first: the others overflow into it
  for (const spec of DEMO_GROUPS) {
    if (byCode.has(spec.code)) continue;
    const target = spec.overflowOnWait?.kind === 'group' ? { kind: 'group' as const, groupId: byCode.get(spec.overflowOnWait.groupId!)! } : spec.overflowOnWait;
    const g = await createGroup(db, tenantId, {
      name: spec.name,
      code: spec.code,
      strategy: spec.strategy,
      priority: spec.priority,
      agingRate: 0.05,
      musicOnHold: 'local_stream://moh',
      announceIntervalMs: 30_000,
      maxWaitMs: 180_000,
      overflowOnWait: target ?? { kind: 'voicemail' },
      maxQueueLength: 30,
      overflowOnLength: { kind: 'voicemail' },
      noAnswerTimeoutMs: 15_000,
      wrapUpMs: 10_000,
    });
    byCode.set(spec.code, g.id);
    await setMembers(
      db,
      tenantId,
      g.id,
      spec.agents.filter((l) => idOf.has(l)).map((l, i) => ({ agentId: idOf.get(l)!, proficiency: i < 2 ? 5 : 3, position: i })),
    );
    created.push(spec.code);
  }
  // agent 1020 may also sign in on a mobile phone through the carrier gateway (移动终端座席)
  const mobileAgent = idOf.get('1020');
  if (mobileAgent && (await listEndpoints(db, tenantId, mobileAgent)).length === 0) {
    await setEndpoints(db, tenantId, mobileAgent, [
      { type: 'sip', address: '1020', isDefault: true },
      { type: 'mobile', address: '13700000001', gateway: 'hotline-carrier', confirmKey: '1' },
    ]);
  }
  return created;
}
