// Multi-row inserts for the tables written on every call (CDRs, leg events, queue events, agent state periods).
// drizzle builds a multi-row insert parameter by parameter (type checks per value): at 100 calls/s that was 7 % of
// the CTI's CPU. Here the rows travel as one JSON parameter and PostgreSQL unpacks them (json_populate_recordset),
// so the statement text is built once per table and column set, and the per-row cost is one JSON.stringify.
import { getTableColumns, getTableName, sql, type Column } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import { drizzle } from 'drizzle-orm/node-postgres';
import type pg from 'pg';
import type { Db } from './client.js';

/** pg.Pool or a checked-out pg.PoolClient */
export interface Queryable {
  query<R extends Record<string, unknown> = Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: R[]; rowCount: number | null }>;
}

export interface BulkInsertOptions<T extends PgTable> {
  /** `on conflict (these columns) do nothing`; [] = on any conflict */
  onConflictDoNothing?: (keyof T['$inferInsert'] & string)[];
  /**
   * `on conflict (target) do update set <set>`: an upsert. `set` is SQL over the table's columns and `excluded.*`,
   * fixed per call site (it is part of the cached statement text, so never build it from values).
   */
  onConflictDoUpdate?: { target: (keyof T['$inferInsert'] & string)[]; set: string };
  /** return this column of the rows inserted (not of those skipped by the conflict clause) */
  returning?: keyof T['$inferInsert'] & string;
}

/** a pg pool/client (its query is a function; drizzle's db.query is the relational query builder, an object) */
function isQueryable(db: Queryable | Db): db is Queryable {
  return typeof (db as { query?: unknown }).query === 'function';
}

const statements = new Map<string, string>();
const quote = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** One multi-row insert as statement text (rows in the one JSON parameter `$<param>`) and that parameter. */
export interface BuiltInsert {
  text: string;
  json: string;
}

/**
 * The statement for `rows`, or null when a row leaves out a column that has a default (json_populate_recordset
 * would store null there: such rows go through drizzle, see bulkInsert).
 */
export function buildBulkInsert<T extends PgTable>(table: T, rows: readonly T['$inferInsert'][], opts: BulkInsertOptions<T> = {}, param = 1): BuiltInsert | null {
  const columns = getTableColumns(table) as Record<string, Column>;
  const props = Object.keys(columns).filter((p) => rows.some((r) => (r as Record<string, unknown>)[p] !== undefined));
  // a value left out stands for the column's default; json_populate_recordset would make it null instead, so rows
  // that leave out a defaulted column some other row gives (or a JS-side default) go the drizzle way
  const needsDefaults = Object.entries(columns).some(([p, col]) =>
    props.includes(p)
      ? (col.hasDefault || col.defaultFn !== undefined) && rows.some((r) => (r as Record<string, unknown>)[p] === undefined)
      : col.defaultFn !== undefined || col.onUpdateFn !== undefined);
  if (needsDefaults) return null;
  const upsert = opts.onConflictDoUpdate;
  const key = `${getTableName(table)}|${props.join(',')}|${opts.onConflictDoNothing?.join(',') ?? '-'}|${upsert ? `${upsert.target.join(',')}:${upsert.set}` : '-'}|${opts.returning ?? ''}|${param}`;
  let text = statements.get(key);
  if (!text) {
    const name = quote(getTableName(table));
    const names = props.map((p) => quote(columns[p]!.name)).join(', ');
    const conflict = opts.onConflictDoNothing
      ? ` on conflict${opts.onConflictDoNothing.length ? ` (${opts.onConflictDoNothing.map((p) => quote(columns[p]!.name)).join(', ')})` : ''} do nothing`
      : upsert
        ? ` on conflict (${upsert.target.map((p) => quote(columns[p]!.name)).join(', ')}) do update set ${upsert.set}`
        : '';
    const returning = opts.returning ? ` returning ${quote(columns[opts.returning]!.name)} as v` : '';
    text = `insert into ${name} (${names}) select ${names} from json_populate_recordset(null::${name}, $${param}::json)${conflict}${returning}`;
    statements.set(key, text);
  }
  const json = JSON.stringify(rows.map((row) => {
    const r = row as Record<string, unknown>;
    const o: Record<string, unknown> = {};
    for (const p of props) o[columns[p]!.name] = r[p] ?? null;
    return o;
  }));
  return { text, json };
}

/**
 * Insert `rows` in one statement; a property no row gives is left to the column's default. Returns the
 * `returning` column's values, or [] without it.
 */
export async function bulkInsert<T extends PgTable>(db: Queryable | Db, table: T, rows: readonly T['$inferInsert'][], opts: BulkInsertOptions<T> = {}): Promise<unknown[]> {
  if (rows.length === 0) return [];
  const built = buildBulkInsert(table, rows, opts);
  if (!built) {
    // drizzle's upsert takes its set clause as columns, not SQL text: callers give every defaulted column instead
    if (opts.onConflictDoUpdate) throw new Error(`bulkInsert into ${getTableName(table)}: an upsert's rows must give every column that has a default`);
    return drizzleInsert(db, table, rows, opts);
  }
  const { text, json } = built;
  const result = isQueryable(db)
    ? await db.query<{ v: unknown }>(text, [json])
    : await db.execute<{ v: unknown }>(sql`${sql.raw(text.slice(0, text.indexOf('$1')))}${json}${sql.raw(text.slice(text.indexOf('$1') + 2))}`);
  return opts.returning ? result.rows.map((r) => r.v) : [];
}

/** The same insert built by drizzle, which puts DEFAULT where a row leaves a value out. */
async function drizzleInsert<T extends PgTable>(db: Queryable | Db, table: T, rows: readonly T['$inferInsert'][], opts: BulkInsertOptions<T>): Promise<unknown[]> {
  const target: Db = isQueryable(db) ? (drizzle(db as unknown as pg.PoolClient) as unknown as Db) : db;
  const columns = getTableColumns(table) as Record<string, PgColumn>;
  const insert = target.insert(table).values(rows as T['$inferInsert'][]);
  const conflict = opts.onConflictDoNothing
    ? insert.onConflictDoNothing(opts.onConflictDoNothing.length ? { target: opts.onConflictDoNothing.map((p) => columns[p]!) } : undefined)
    : insert;
  if (!opts.returning) {
    await conflict;
    return [];
  }
  const out = (await conflict.returning({ v: columns[opts.returning]! })) as { v: unknown }[];
  return out.map((r) => r.v);
}
