// Demo data for a first start and `npm run seed`: the demo center (tenant `demo`, 示范热线中心) with an admin,
// two supervisors and 20 agents on extensions 1001-1020, and a second center `other` with one admin (cross-tenant
// checks). Idempotent: a center that exists is left alone, so credentials are generated and shown only once.
import { eq } from 'drizzle-orm';
import type { AppContext } from '../app-context.js';
import { tenants, users, type UserRole } from '../db/schema/core.js';
import { generatePassword, generateSipPassword, hashPassword } from './passwords.js';

export interface DemoCredential {
  tenantId: string;
  loginId: string;
  password: string;
  role: UserRole;
  displayName: string;
  extension: string | null;
  sipPassword: string | null;
}

export interface DemoDataResult {
  /** the centers created by this call (empty when they already existed) */
  createdTenants: string[];
  /** every created user's credentials; empty when nothing was created */
  credentials: DemoCredential[];
}

interface DemoUserSpec {
  loginId: string;
  displayName: string;
  role: UserRole;
  extension?: string;
}

interface DemoTenantSpec {
  id: string;
  name: string;
  outboundCallerId: string;
  users: DemoUserSpec[];
}

const AGENT_SURNAMES = ['王', '李', '张', '刘', '陈', '杨', '赵', '黄', '周', '吴', '徐', '孙', '胡', '朱', '高', '林', '何', '郭', '马', '罗'];

export const DEMO_TENANTS: DemoTenantSpec[] = [
  {
    id: 'demo',
    name: '示范热线中心',
    outboundCallerId: '12345',
    users: [
      { loginId: 'admin', displayName: '系统管理员', role: 'admin' },
      { loginId: 'sup01', displayName: '值班长一', role: 'supervisor' },
      { loginId: 'sup02', displayName: '值班长二', role: 'supervisor' },
      ...Array.from({ length: 20 }, (_, i): DemoUserSpec => {
        const ext = String(1001 + i);
        return { loginId: ext, displayName: `${AGENT_SURNAMES[i]}话务员`, role: 'agent', extension: ext };
      }),
    ],
  },
  {
    id: 'other',
    name: '另一热线中心',
    outboundCallerId: '12345',
    users: [{ loginId: 'other-admin', displayName: '另一中心管理员', role: 'admin' }],
  },
];

/**
 * Creates each demo center that does not exist yet, with its users, in one transaction per center. Concurrent
 * callers (several nodes starting at once) are safe: the tenant insert decides who creates the users.
 * Prints the generated credentials to stdout unless `print: false`.
 */
export async function ensureDemoData(ctx: Pick<AppContext, 'db' | 'log'>, opts: { print?: boolean } = {}): Promise<DemoDataResult> {
  const result: DemoDataResult = { createdTenants: [], credentials: [] };
  for (const spec of DEMO_TENANTS) {
    const existing = await ctx.db.select({ id: tenants.id }).from(tenants).where(eq(tenants.id, spec.id)).limit(1);
    if (existing.length > 0) continue;
    // hash outside the transaction: argon2 is slow and the transaction holds the tenant row lock
    const prepared = await Promise.all(
      spec.users.map(async (u) => {
        const password = generatePassword();
        const sipPassword = u.extension ? generateSipPassword() : null;
        return { spec: u, password, sipPassword, passwordHash: await hashPassword(password) };
      }),
    );
    const created = await ctx.db.transaction(async (tx) => {
      const inserted = await tx
        .insert(tenants)
        .values({ id: spec.id, name: spec.name, outboundCallerId: spec.outboundCallerId })
        .onConflictDoNothing()
        .returning({ id: tenants.id });
      if (inserted.length === 0) return false;
      await tx.insert(users).values(
        prepared.map((p) => ({
          tenantId: spec.id,
          loginId: p.spec.loginId,
          displayName: p.spec.displayName,
          role: p.spec.role,
          extension: p.spec.extension ?? null,
          sipPassword: p.sipPassword,
          passwordHash: p.passwordHash,
        })),
      );
      return true;
    });
    if (!created) continue;
    result.createdTenants.push(spec.id);
    for (const p of prepared) {
      result.credentials.push({
        tenantId: spec.id,
        loginId: p.spec.loginId,
        password: p.password,
        role: p.spec.role,
        displayName: p.spec.displayName,
        extension: p.spec.extension ?? null,
        sipPassword: p.sipPassword,
      });
    }
  }
  if (result.createdTenants.length > 0) {
    ctx.log.warn({ tenants: result.createdTenants, users: result.credentials.length }, 'demo data created; credentials printed once on stdout');
    if (opts.print !== false) process.stdout.write(formatCredentials(result.credentials));
  }
  return result;
}

/** A table for the console; this is the only time these passwords are shown. */
export function formatCredentials(creds: DemoCredential[]): string {
  const lines = [
    '',
    '==== Demo credentials (shown once; change them with POST /auth/password) ====',
    'center   login id      password       role        extension  SIP password',
    ...creds.map(
      (c) =>
        `${c.tenantId.padEnd(8)} ${c.loginId.padEnd(13)} ${c.password.padEnd(14)} ${c.role.padEnd(11)} ${(c.extension ?? '-').padEnd(10)} ${c.sipPassword ?? '-'}`,
    ),
    '==============================================================================',
    '',
  ];
  return lines.join('\n');
}
