// Two tenants with data for the fuzz suites: tenant A (the one the fuzzer logs in to) and tenant B, whose every id,
// name and number is a "secret" that must never appear in an answer to tenant A.
import { randomBytes } from 'node:crypto';
import type { AppContext } from '../../src/app-context.js';
import { skillGroups, skillGroupMembers } from '../../src/db/schema/acd.js';
import { blacklistEntries, blacklistProposals, voicemails } from '../../src/db/schema/ivr.js';
import { callers, agentMessages } from '../../src/db/schema/callers.js';
import { recordings } from '../../src/db/schema/recording.js';
import { createTestTenant, createTestUser, type TestUser } from '../http/fixture.js';

export interface TenantData {
  tenant: string;
  users: TestUser[];
  /** ids of every row created (users, groups, blacklist entries and proposals, callers, recordings, voicemails) */
  ids: string[];
  /** strings only this tenant's rows hold: tenant id, marker names, login ids, phone numbers */
  strings: string[];
}

const digits = (n: number) => Array.from(randomBytes(n), (b) => String(b % 10)).join('');

/** Rows of every kind the API lists, for `tenant` (created when absent), all named with a unique marker. */
export async function seedTenantData(ctx: AppContext, opts: { tenant?: string; tag: string; users?: TestUser[] }): Promise<TenantData> {
  const tenant = opts.tenant ?? (await createTestTenant(ctx, `${opts.tag}中心`));
  const marker = `${opts.tag}${randomBytes(4).toString('hex')}`;
  const users = opts.users ?? [
    await createTestUser(ctx, tenant, 'admin'),
    await createTestUser(ctx, tenant, 'supervisor'),
    await createTestUser(ctx, tenant, 'agent'),
  ];
  const agent = users.find((u) => u.extension) ?? users[0]!;
  const callerNumber = `139${digits(8)}`;
  const blockedNumber = `137${digits(8)}`;
  const [group] = await ctx.db.insert(skillGroups).values({ tenantId: tenant, name: `${marker}组`, code: `g${marker}`.slice(0, 30) }).returning();
  await ctx.db.insert(skillGroupMembers).values({ tenantId: tenant, groupId: group!.id, agentId: agent.id });
  const [entry] = await ctx.db
    .insert(blacklistEntries)
    .values({ tenantId: tenant, number: blockedNumber, reason: `${marker}骚扰`, createdBy: agent.id })
    .returning();
  const [proposal] = await ctx.db
    .insert(blacklistProposals)
    .values({ tenantId: tenant, number: `136${digits(8)}`, reason: `${marker}提议`, proposedBy: agent.id })
    .returning();
  const [caller] = await ctx.db.insert(callers).values({ tenantId: tenant, number: callerNumber, name: `${marker}市民`, address: `${marker}路1号` }).returning();
  await ctx.db.insert(agentMessages).values({ tenantId: tenant, fromUserId: agent.id, fromName: `${marker}班长`, toKind: 'all', text: `${marker}通知` });
  const callUuid = `call-${marker}`;
  const [recording] = await ctx.db
    .insert(recordings)
    .values({ tenantId: tenant, callUuid, legUuid: `leg-${marker}`, agentId: agent.id, groupId: group!.id, callerNumber, startedAt: new Date(), endedAt: new Date(), durationMs: 1000, wavPath: `${marker}.wav`, compressedPath: `${marker}.opus`, format: 'opus', status: 'compressed' })
    .returning();
  const [voicemail] = await ctx.db
    .insert(voicemails)
    .values({ tenantId: tenant, callUuid, callerNumber, flowId: 'main', nodeId: 'vm', startedAt: new Date(), durationMs: 1000, filePath: `${marker}-vm.wav`, sizeBytes: 100, endedBy: 'hangup', category: `${marker}留言` })
    .returning();
  return {
    tenant,
    users,
    ids: [...users.map((u) => u.id), group!.id, entry!.id, proposal!.id, caller!.id, recording!.id, voicemail!.id, callUuid],
    strings: [tenant, marker, callerNumber, blockedNumber, ...users.map((u) => u.loginId)],
  };
}
