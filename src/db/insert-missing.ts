// Insert rows of an append-only table unless an equal row is already there, in one statement. For batches written
// again after an attempt whose outcome is unknown (the connection died around COMMIT during a database outage):
// a plain retry could store them twice.
import { getTableColumns, getTableName, sql, type SQL } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';
import type { Db } from './client.js';

/**
 * `key`: the properties that identify a row (an event's tenant, time, call, type…). Columns the rows leave out
 * (serial ids, defaults) are left to the database. Returns the number of rows inserted.
 */
export async function insertMissing<T extends PgTable>(db: Db, table: T, rows: T['$inferInsert'][], key: (keyof T['$inferInsert'] & string)[]): Promise<number> {
  if (rows.length === 0) return 0;
  const columns = Object.entries(getTableColumns(table)).filter(([prop]) => rows.some((r) => (r as Record<string, unknown>)[prop] !== undefined));
  const json = rows.map((r) => Object.fromEntries(columns.map(([prop, col]) => [col.name, (r as Record<string, unknown>)[prop] ?? null])));
  const name = sql.identifier(getTableName(table));
  const names = sql.join(columns.map(([, col]) => sql.identifier(col.name)), sql`, `);
  const picked = sql.join(columns.map(([, col]) => sql`x.${sql.identifier(col.name)}`), sql`, `);
  const same: SQL[] = key.map((prop) => {
    const col = getTableColumns(table)[prop];
    if (!col) throw new Error(`insertMissing: ${getTableName(table)} has no column ${prop}`);
    const c = sql.identifier(col.name);
    // plain equality where the column cannot be null, so the table's indexes are used
    return col.notNull ? sql`t.${c} = x.${c}` : sql`t.${c} is not distinct from x.${c}`;
  });
  const result = await db.execute(sql`
    insert into ${name} (${names})
    select ${picked} from json_populate_recordset(null::${name}, ${JSON.stringify(json)}::json) x
     where not exists (select 1 from ${name} t where ${sql.join(same, sql` and `)})`);
  return result.rowCount ?? 0;
}
