// /admin/users: an admin manages the users of their own tenant (create, list, view, update, disable, reset password).
// Every query is scoped by the admin's tenant; another tenant's user id answers 404, exactly like a missing one.
import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../app-context.js';
import { USER_ROLES, type User, type UserRole } from '../db/schema/core.js';
import { HttpError, errorBodySchema, notFound } from '../http/errors.js';
import { generatePassword, generateSipPassword, passwordPolicyViolation } from './passwords.js';
import { createUser, getUser, listUsers, updateUser, setUserPassword, unlockUser, toPublicUser, type UpdateUserInput } from './users.js';
import { sessionCacheFor } from './session-cache.js';
import { requireRole, currentUser } from './guard.js';
import { writeAudit } from './audit.js';
import { invalidateDirectoryUser } from '../http/directory-cache.js';

const userNotFound = () => notFound('user_not_found', '用户不存在');

const publicUserSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    tenantId: { type: 'string' },
    loginId: { type: 'string' },
    displayName: { type: 'string' },
    role: { type: 'string', enum: [...USER_ROLES] },
    extension: { type: ['string', 'null'] },
    mobile: { type: ['string', 'null'] },
    disabled: { type: 'boolean' },
    lockedUntil: { type: ['string', 'null'] },
    createdAt: { type: 'string' },
    sipPassword: { type: ['string', 'null'], description: 'SIP digest password of the phone (admins only)' },
    initialPassword: { type: 'string', description: 'only in the answer that generated it' },
  },
  required: ['id', 'tenantId', 'loginId', 'displayName', 'role', 'disabled'],
} as const;

const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema };
const idParams = { type: 'object', properties: { id: { type: 'string', format: 'uuid' } }, required: ['id'] } as const;
// login IDs (工号) and extensions: plain characters only, they end up in SIP URIs and XML
const loginIdSchema = { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' } as const;
const extensionSchema = { type: ['string', 'null'], pattern: '^[0-9]{2,10}$' } as const;
const displayNameSchema = { type: 'string', minLength: 1, maxLength: 64 } as const;
const mobileSchema = { type: ['string', 'null'], pattern: '^\\+?[0-9]{5,20}$' } as const;

function adminView(u: User, extra: { initialPassword?: string } = {}) {
  return { ...toPublicUser(u), sipPassword: u.sipPassword, ...extra };
}

interface CreateBody {
  loginId: string;
  displayName: string;
  role: UserRole;
  extension?: string | null;
  mobile?: string | null;
  password?: string;
}

interface PatchBody {
  displayName?: string;
  role?: UserRole;
  extension?: string | null;
  mobile?: string | null;
  disabled?: boolean;
  resetPassword?: boolean;
  regenerateSipPassword?: boolean;
  unlock?: boolean;
}

export function usersAdminRoutes(ctx: AppContext): FastifyPluginAsync {
  const { db, log } = ctx;
  const cache = sessionCacheFor(ctx);
  return async (app) => {
    app.get<{ Querystring: { role?: UserRole; includeDisabled?: boolean } }>(
      '/admin/users',
      {
        onRequest: requireRole('admin'),
        schema: {
          tags: ['users'],
          summary: "List the users of the admin's center",
          querystring: {
            type: 'object',
            properties: { role: { type: 'string', enum: [...USER_ROLES] }, includeDisabled: { type: 'boolean', default: false } },
            additionalProperties: false,
          },
          response: { 200: { type: 'object', properties: { users: { type: 'array', items: publicUserSchema } }, required: ['users'] }, ...errors },
        },
      },
      async (request) => {
        const { tenantId } = currentUser(request);
        const rows = await listUsers(db, tenantId, request.query);
        return { users: rows.map((u) => adminView(u)) };
      },
    );

    app.post<{ Body: CreateBody }>(
      '/admin/users',
      {
        onRequest: requireRole('admin'),
        schema: {
          tags: ['users'],
          summary: 'Create a user; agents need an extension and get a SIP password. Without `password` one is generated.',
          body: {
            type: 'object',
            properties: {
              loginId: loginIdSchema,
              displayName: displayNameSchema,
              role: { type: 'string', enum: [...USER_ROLES] },
              extension: extensionSchema,
              mobile: mobileSchema,
              password: { type: 'string', minLength: 1, maxLength: 128 },
            },
            required: ['loginId', 'displayName', 'role'],
            additionalProperties: false,
          },
          response: { 201: publicUserSchema, ...errors },
        },
      },
      async (request, reply) => {
        const admin = currentUser(request);
        const body = request.body;
        if (body.role === 'agent' && !body.extension) throw new HttpError(400, 'bad_request', 'extension is required for agents', 'extension');
        if (body.password !== undefined) {
          const violation = passwordPolicyViolation(body.password);
          if (violation) throw new HttpError(400, 'weak_password', violation.replace('新密码', '密码'), 'password');
        }
        const initialPassword = body.password === undefined ? generatePassword() : undefined;
        const user = await createUser(db, admin.tenantId, {
          loginId: body.loginId,
          displayName: body.displayName,
          role: body.role,
          extension: body.extension ?? null,
          mobile: body.mobile ?? null,
          password: body.password ?? initialPassword!,
        });
        await invalidateDirectoryUser(ctx, admin.tenantId, [user.extension]); // a cached "not found" must not hide the new phone
        await writeAudit(db, { tenantId: admin.tenantId, userId: admin.userId, action: 'users.create', target: user.id, details: { loginId: user.loginId, role: user.role } }, log);
        reply.code(201);
        return adminView(user, initialPassword ? { initialPassword } : {});
      },
    );

    app.get<{ Params: { id: string } }>(
      '/admin/users/:id',
      {
        onRequest: requireRole('admin'),
        schema: { tags: ['users'], summary: 'One user of the center', params: idParams, response: { 200: publicUserSchema, ...errors } },
      },
      async (request) => {
        const { tenantId } = currentUser(request);
        const user = await getUser(db, tenantId, request.params.id);
        if (!user) throw userNotFound();
        return adminView(user);
      },
    );

    app.patch<{ Params: { id: string }; Body: PatchBody }>(
      '/admin/users/:id',
      {
        onRequest: requireRole('admin'),
        schema: {
          tags: ['users'],
          summary: 'Update, disable/enable, unlock a user, reset their password or regenerate their SIP password',
          params: idParams,
          body: {
            type: 'object',
            properties: {
              displayName: displayNameSchema,
              role: { type: 'string', enum: [...USER_ROLES] },
              extension: extensionSchema,
              mobile: mobileSchema,
              disabled: { type: 'boolean' },
              resetPassword: { type: 'boolean' },
              regenerateSipPassword: { type: 'boolean' },
              unlock: { type: 'boolean' },
            },
            additionalProperties: false,
          },
          response: { 200: publicUserSchema, ...errors },
        },
      },
      async (request) => {
        const admin = currentUser(request);
        const { id } = request.params;
        const { resetPassword, regenerateSipPassword, unlock, ...fields } = request.body;
        const existing = await getUser(db, admin.tenantId, id);
        if (!existing) throw userNotFound();
        if (id === admin.userId && (fields.disabled === true || (fields.role !== undefined && fields.role !== 'admin'))) {
          throw new HttpError(400, 'cannot_demote_self', '不能停用自己或取消自己的管理员角色', fields.disabled ? 'disabled' : 'role');
        }
        const role = fields.role ?? existing.role;
        const extension = fields.extension !== undefined ? fields.extension : existing.extension;
        if (role === 'agent' && !extension) throw new HttpError(400, 'bad_request', 'extension is required for agents', 'extension');

        const patch: UpdateUserInput = { ...fields };
        // a phone needs a SIP password: create one when the user first gets an extension, or on request
        if (regenerateSipPassword || (extension && !existing.sipPassword)) patch.sipPassword = generateSipPassword();
        let user = await updateUser(db, admin.tenantId, id, patch, cache);
        if (!user) throw userNotFound();
        await invalidateDirectoryUser(ctx, admin.tenantId, [existing.extension, user.extension]); // SIP password, extension, disabled
        if (unlock) await unlockUser(db, admin.tenantId, id);
        let initialPassword: string | undefined;
        if (resetPassword) {
          initialPassword = generatePassword();
          await setUserPassword(db, admin.tenantId, id, initialPassword, undefined, cache);
        }
        if (unlock || resetPassword) user = (await getUser(db, admin.tenantId, id)) ?? user;
        await writeAudit(
          db,
          {
            tenantId: admin.tenantId,
            userId: admin.userId,
            action: 'users.update',
            target: id,
            details: { fields: Object.keys(fields), resetPassword: !!resetPassword, regenerateSipPassword: !!regenerateSipPassword, unlock: !!unlock },
          },
          log,
        );
        return adminView(user, initialPassword ? { initialPassword } : {});
      },
    );
  };
}
