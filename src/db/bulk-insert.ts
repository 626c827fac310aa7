// Multi-row inserts for the tables written on every call (CDRs, leg events, queue events, agent state periods).
// drizzle builds a multi-row insert parameter by parameter (type checks per value): at 100 calls/s that was 7 % of
// the CTI's CPU. Here the rows travel as one JSON parameter and PostgreSQL unpacks them (json_populate_recordset),
// so the statement text is built once per table and column set, and the per-row cost is one JSON.stringify.
import { getTableColumns, getTableName, sql, type Column } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';
import type { Db } from './client.js';

/** pg.Pool or a checked-out pg.PoolClient */
export interface Queryable {
  query<R extends Record<string, unknown> = Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: R[]; rowCount: number | null }>;
}

export interface BulkInsertOptions<T extends PgTable> {
  /** `on conflict (these columns) do nothing`; [] = on any conflict */
  onConflictDoNothing?: (keyof T['$inferInsert'] & string)[];
  /** return this column of the rows inserted (not of those skipped by the conflict clause) */
  returning?: keyof T['$inferInsert'] & string;
}

/** a pg pool/client (its query is a function; drizzle's db.query is the relational query builder, an object) */
function isQueryable(db: Queryable | Db): db is Queryable {
  return typeof (db as { query?: unknown }).query === 'function';
}

const statements = new Map<string, string>();
const quote = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/**
 * Insert `rows` in one statement. Every row must define the same properties (what they leave out is left to the
 * column defaults); rows of mixed shapes, or a table with JS-side defaults they leave out, are refused with an
 * Error rather than written with nulls. Returns the `returning` column's values, or [] without it.
 */
export async function bulkInsert<T extends PgTable>(db: Queryable | Db, table: T, rows: readonly T['$inferInsert'][], opts: BulkInsertOptions<T> = {}): Promise<unknown[]> {
  if (rows.length === 0) return [];
  const columns = getTableColumns(table) as Record<string, Column>;
  const first = rows[0] as Record<string, unknown>;
  const props = Object.keys(columns).filter((p) => first[p] !== undefined);
  for (const row of rows) {
    const r = row as Record<string, unknown>;
    for (const p of Object.keys(columns)) {
      if ((r[p] !== undefined) !== props.includes(p)) throw new Error(`bulkInsert(${getTableName(table)}): rows differ in ${p}`);
    }
  }
  for (const [p, col] of Object.entries(columns)) {
    if (!props.includes(p) && (col.defaultFn || col.onUpdateFn)) throw new Error(`bulkInsert(${getTableName(table)}): ${p} has a JS default; give it a value`);
  }
  const key = `${getTableName(table)}|${props.join(',')}|${opts.onConflictDoNothing?.join(',') ?? '-'}|${opts.returning ?? ''}`;
  let text = statements.get(key);
  if (!text) {
    const name = quote(getTableName(table));
    const names = props.map((p) => quote(columns[p]!.name)).join(', ');
    const conflict = opts.onConflictDoNothing
      ? ` on conflict${opts.onConflictDoNothing.length ? ` (${opts.onConflictDoNothing.map((p) => quote(columns[p]!.name)).join(', ')})` : ''} do nothing`
      : '';
    const returning = opts.returning ? ` returning ${quote(columns[opts.returning]!.name)} as v` : '';
    text = `insert into ${name} (${names}) select ${names} from json_populate_recordset(null::${name}, $1::json)${conflict}${returning}`;
    statements.set(key, text);
  }
  const json = JSON.stringify(rows.map((row) => {
    const r = row as Record<string, unknown>;
    const o: Record<string, unknown> = {};
    for (const p of props) o[columns[p]!.name] = r[p];
    return o;
  }));
  const result = isQueryable(db)
    ? await db.query<{ v: unknown }>(text, [json])
    : await db.execute<{ v: unknown }>(sql`${sql.raw(text.slice(0, text.indexOf('$1')))}${json}${sql.raw(text.slice(text.indexOf('$1') + 2))}`);
  return opts.returning ? result.rows.map((r) => r.v) : [];
}
