// The auth module's public surface.
export { requireRole, requireAuth, currentUser, sessionTokenFrom, installAuthGuard } from './guard.js';
export { authenticateToken, purgeExpiredSessions, hashToken, SESSION_COOKIE, CSRF_COOKIE, CSRF_HEADER, type AuthUser, type AuthenticatedSession } from './sessions.js';
export { hashPassword, verifyPassword, passwordPolicyViolation, generatePassword } from './passwords.js';
export { createUser, getUser, listUsers, updateUser, setUserPassword, findSipUser, toPublicUser, type PublicUser } from './users.js';
export { ensureDemoData, formatCredentials, DEMO_TENANTS, type DemoCredential, type DemoDataResult } from './demo-data.js';
export { writeAudit, type AuditEvent } from './audit.js';
