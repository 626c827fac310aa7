export { BlacklistService, BlacklistError, BLACKLIST_EDITORS, type BlacklistEditors, type BlacklistServiceOptions, type NewEntry } from './service.js';
export { TenantBlacklist, normalizeNumber, isValidNumber, type CachedEntry } from './matcher.js';
export { blacklistRoutes } from './routes.js';
