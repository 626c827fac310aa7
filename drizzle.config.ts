import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema/index.ts',
  out: './sql',
  dbCredentials: { url: process.env.DATABASE_URL ?? 'postgres://hotline:hotline@127.0.0.1:5432/hotline' },
});
