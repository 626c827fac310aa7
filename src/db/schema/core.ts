// Core tables: tenants (hotline centers), users, login sessions and the audit log.
// Every tenant-owned row carries tenant_id; queries go through tenant-scoped helpers (src/auth/users.ts, tenantScope below).
import { sql, and, eq, type SQL } from 'drizzle-orm';
import {
  pgTable,
  text,
  uuid,
  integer,
  boolean,
  timestamp,
  jsonb,
  bigserial,
  index,
  uniqueIndex,
  check,
  type AnyPgColumn,
} from 'drizzle-orm/pg-core';

export const USER_ROLES = ['agent', 'supervisor', 'admin', 'department'] as const;
export type UserRole = (typeof USER_ROLES)[number];

/** A hotline center (分中心/租户). The id is a short slug used in URLs, Redis keys and SIP domains. */
export const tenants = pgTable('tenants', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  timezone: text('timezone').notNull().default('Asia/Shanghai'),
  /** caller id presented on outbound calls (the center's public number) */
  outboundCallerId: text('outbound_caller_id'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    /** 工号: what the user types at login; globally unique because login is by ID alone */
    loginId: text('login_id').notNull(),
    displayName: text('display_name').notNull(),
    role: text('role', { enum: USER_ROLES }).notNull(),
    /** SIP user of the agent's phone; unique per tenant (the SIP domain is per tenant) */
    extension: text('extension'),
    /** SIP digest password served to FreeSWITCH over mod_xml_curl; agents only */
    sipPassword: text('sip_password'),
    mobile: text('mobile'),
    /** argon2id PHC string */
    passwordHash: text('password_hash').notNull(),
    failedLogins: integer('failed_logins').notNull().default(0),
    lockedUntil: timestamp('locked_until', { withTimezone: true }),
    passwordChangedAt: timestamp('password_changed_at', { withTimezone: true }).notNull().defaultNow(),
    disabled: boolean('disabled').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('users_login_id_uq').on(t.loginId),
    uniqueIndex('users_tenant_extension_uq')
      .on(t.tenantId, t.extension)
      .where(sql`${t.extension} is not null`),
    index('users_tenant_idx').on(t.tenantId),
    check('users_role_ck', sql`${t.role} in ('agent', 'supervisor', 'admin', 'department')`),
  ],
);

export const sessions = pgTable(
  'sessions',
  {
    /** sha256 of the session token; the token itself is never stored */
    tokenHash: text('token_hash').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    /** lock screen: the session survives but only /auth/unlock is allowed */
    locked: boolean('locked').notNull().default(false),
    csrfToken: text('csrf_token').notNull(),
    ip: text('ip'),
    userAgent: text('user_agent'),
  },
  (t) => [index('sessions_user_idx').on(t.userId), index('sessions_expires_idx').on(t.expiresAt)],
);

export const auditLog = pgTable(
  'audit_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    /** null for actions without a known user (e.g. a failed login for an unknown ID is not logged per tenant) */
    userId: uuid('user_id').references((): AnyPgColumn => users.id, { onDelete: 'set null' }),
    action: text('action').notNull(),
    target: text('target'),
    details: jsonb('details').$type<Record<string, unknown>>(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('audit_log_tenant_at_idx').on(t.tenantId, t.at)],
);

export type Tenant = typeof tenants.$inferSelect;
export type User = typeof users.$inferSelect;
export type NewUser = typeof users.$inferInsert;
export type Session = typeof sessions.$inferSelect;
export type AuditEntry = typeof auditLog.$inferSelect;

/** The where-clause every query on a tenant-owned table starts from: `tenantScope(users.tenantId, t, eq(users.id, id))`. */
export function tenantScope(tenantColumn: AnyPgColumn, tenantId: string, ...conditions: (SQL | undefined)[]): SQL {
  return and(eq(tenantColumn, tenantId), ...conditions)!;
}
