// Users, always within one tenant: every function takes the tenant id and every query is scoped by it.
// The single exception is findUserForLogin (login is by globally unique ID, before the tenant is known).
import { and, asc, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { users, sessions, tenants, tenantScope, type User, type UserRole } from '../db/schema/core.js';
import { hashPassword, generateSipPassword } from './passwords.js';
import type { SessionCache } from './session-cache.js';
import { conflict } from '../http/errors.js';

/** What may leave the server about a user (no hashes, no lockout internals). */
export interface PublicUser {
  id: string;
  tenantId: string;
  loginId: string;
  displayName: string;
  role: UserRole;
  extension: string | null;
  mobile: string | null;
  disabled: boolean;
  lockedUntil: string | null;
  createdAt: string;
}

export function toPublicUser(u: User): PublicUser {
  return {
    id: u.id,
    tenantId: u.tenantId,
    loginId: u.loginId,
    displayName: u.displayName,
    role: u.role,
    extension: u.extension,
    mobile: u.mobile,
    disabled: u.disabled,
    lockedUntil: u.lockedUntil && u.lockedUntil > new Date() ? u.lockedUntil.toISOString() : null,
    createdAt: u.createdAt.toISOString(),
  };
}

export interface CreateUserInput {
  loginId: string;
  displayName: string;
  role: UserRole;
  password: string;
  extension?: string | null;
  mobile?: string | null;
  /** defaults to a generated one for users with an extension */
  sipPassword?: string | null;
}

export async function tenantExists(db: Db, tenantId: string): Promise<boolean> {
  const rows = await db.select({ id: tenants.id }).from(tenants).where(eq(tenants.id, tenantId)).limit(1);
  return rows.length > 0;
}

/** Creates a user in the tenant; duplicate login ID or extension → 409 with a Chinese message naming what clashed. */
export async function createUser(db: Db, tenantId: string, input: CreateUserInput): Promise<User> {
  const extension = input.extension ?? null;
  try {
    const [row] = await db
      .insert(users)
      .values({
        tenantId,
        loginId: input.loginId,
        displayName: input.displayName,
        role: input.role,
        extension,
        sipPassword: extension ? (input.sipPassword ?? generateSipPassword()) : null,
        mobile: input.mobile ?? null,
        passwordHash: await hashPassword(input.password),
      })
      .returning();
    return row!;
  } catch (err) {
    throw uniqueViolationToHttp(err) ?? err;
  }
}

function uniqueViolationToHttp(err: unknown) {
  const e = (err as { cause?: { code?: string; constraint?: string } }).cause ?? (err as { code?: string; constraint?: string });
  if (e?.code !== '23505') return null;
  if (e.constraint === 'users_login_id_uq') return conflict('login_id_taken', '工号已存在', 'loginId');
  if (e.constraint === 'users_tenant_extension_uq') return conflict('extension_taken', '分机号已被占用', 'extension');
  return conflict('duplicate', '数据重复');
}

export async function getUser(db: Db, tenantId: string, userId: string): Promise<User | null> {
  const rows = await db.select().from(users).where(tenantScope(users.tenantId, tenantId, eq(users.id, userId))).limit(1);
  return rows[0] ?? null;
}

export async function listUsers(db: Db, tenantId: string, filter: { role?: UserRole; includeDisabled?: boolean } = {}): Promise<User[]> {
  return db
    .select()
    .from(users)
    .where(
      tenantScope(
        users.tenantId,
        tenantId,
        filter.role ? eq(users.role, filter.role) : undefined,
        filter.includeDisabled ? undefined : eq(users.disabled, false),
      ),
    )
    .orderBy(asc(users.loginId));
}

export interface UpdateUserInput {
  displayName?: string;
  role?: UserRole;
  extension?: string | null;
  mobile?: string | null;
  disabled?: boolean;
  sipPassword?: string | null;
}

export async function updateUser(db: Db, tenantId: string, userId: string, patch: UpdateUserInput, cache?: SessionCache): Promise<User | null> {
  const values: Partial<typeof users.$inferInsert> = { ...patch };
  if (patch.extension === null) values.sipPassword = null;
  if (Object.keys(values).length === 0) return getUser(db, tenantId, userId);
  try {
    const [row] = await db.update(users).set(values).where(tenantScope(users.tenantId, tenantId, eq(users.id, userId))).returning();
    if (row && patch.disabled === true) await revokeSessions(db, tenantId, userId, undefined, cache);
    // role or name changed: every node must read the user again, not serve the cached one
    else if (row) await forgetCachedSessions(db, tenantId, userId, cache);
    return row ?? null;
  } catch (err) {
    throw uniqueViolationToHttp(err) ?? err;
  }
}

/** Sets a new password, clears any lockout and ends every session of the user except `keepTokenHash`. */
export async function setUserPassword(
  db: Db,
  tenantId: string,
  userId: string,
  password: string,
  keepTokenHash?: string,
  cache?: SessionCache,
): Promise<boolean> {
  const passwordHash = await hashPassword(password);
  const rows = await db
    .update(users)
    .set({ passwordHash, passwordChangedAt: new Date(), failedLogins: 0, lockedUntil: null })
    .where(tenantScope(users.tenantId, tenantId, eq(users.id, userId)))
    .returning({ id: users.id });
  if (rows.length === 0) return false;
  await revokeSessions(db, tenantId, userId, keepTokenHash, cache);
  return true;
}

export async function unlockUser(db: Db, tenantId: string, userId: string): Promise<void> {
  await db.update(users).set({ failedLogins: 0, lockedUntil: null }).where(tenantScope(users.tenantId, tenantId, eq(users.id, userId)));
}

/** Ends the user's sessions (but `exceptTokenHash`) in PostgreSQL and in the Redis session cache of every node. */
export async function revokeSessions(db: Db, tenantId: string, userId: string, exceptTokenHash?: string, cache?: SessionCache): Promise<void> {
  const gone = await db
    .delete(sessions)
    .where(
      tenantScope(
        sessions.tenantId,
        tenantId,
        eq(sessions.userId, userId),
        exceptTokenHash ? sql`${sessions.tokenHash} <> ${exceptTokenHash}` : undefined,
      ),
    )
    .returning({ tokenHash: sessions.tokenHash });
  await cache?.forget(gone.map((g) => g.tokenHash));
}

/** Drops the user's cached sessions (they stay valid): the next request reads the user from PostgreSQL. */
export async function forgetCachedSessions(db: Db, tenantId: string, userId: string, cache?: SessionCache): Promise<void> {
  if (!cache) return;
  const rows = await db
    .select({ tokenHash: sessions.tokenHash })
    .from(sessions)
    .where(tenantScope(sessions.tenantId, tenantId, eq(sessions.userId, userId)));
  await cache.forget(rows.map((r) => r.tokenHash));
}

/** Login is by globally unique login ID; the only user lookup not scoped by tenant. */
export async function findUserForLogin(db: Db, loginId: string): Promise<User | null> {
  const rows = await db.select().from(users).where(eq(users.loginId, loginId)).limit(1);
  return rows[0] ?? null;
}

/** The phone of an agent, for the SIP directory. Disabled users and users without a SIP password are not served. */
export async function findSipUser(db: Db, tenantId: string, extension: string): Promise<User | null> {
  const rows = await db
    .select()
    .from(users)
    .where(and(tenantScope(users.tenantId, tenantId, eq(users.extension, extension)), eq(users.disabled, false)))
    .limit(1);
  const u = rows[0];
  return u && u.sipPassword ? u : null;
}
