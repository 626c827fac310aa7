// The in-memory form of one tenant's blacklist: exact numbers in a map, prefixes longest first. Checking a caller
// is a map lookup plus a short scan, with no I/O.
import type { BlacklistMatchKind } from '../db/schema/ivr.js';

export interface CachedEntry {
  id: string;
  number: string;
  match: BlacklistMatchKind;
  reason: string;
  expiresAt: Date | null;
}

/**
 * Caller numbers come as 13800000001, +8613800000001, 008613800000001, 010-12345678…; entries and callers are
 * compared in one form: digits only, without the China country code.
 */
export function normalizeNumber(raw: string): string {
  let s = raw.trim().replace(/[\s\-().]/g, '');
  if (s.startsWith('+')) {
    s = s.slice(1);
    if (s.startsWith('86')) s = s.slice(2);
  } else if (s.startsWith('0086')) {
    s = s.slice(4);
  } else if (/^861\d{10}$/.test(s)) {
    s = s.slice(2);
  }
  return s;
}

export function isValidNumber(n: string): boolean {
  return /^[0-9]{2,20}$/.test(n);
}

export class TenantBlacklist {
  private readonly exact = new Map<string, CachedEntry>();
  private readonly prefixes: CachedEntry[];

  constructor(entries: readonly CachedEntry[]) {
    for (const e of entries) if (e.match === 'exact') this.exact.set(e.number, e);
    this.prefixes = entries.filter((e) => e.match === 'prefix').sort((a, b) => b.number.length - a.number.length);
  }

  get size(): number {
    return this.exact.size + this.prefixes.length;
  }

  /** The entry that blocks `number` at `now` (exact before prefix, longer prefix first), or null. */
  match(number: string, now: Date): CachedEntry | null {
    const live = (e: CachedEntry | undefined) => e !== undefined && (e.expiresAt === null || e.expiresAt > now);
    const e = this.exact.get(number);
    if (live(e)) return e!;
    for (const p of this.prefixes) if (number.startsWith(p.number) && live(p)) return p;
    return null;
  }
}
