import { randomBytes } from 'node:crypto';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://hotline:hotline@127.0.0.1:5432/hotline_test';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

/** A fresh Redis key prefix per test, so parallel test files never see each other's keys (the bullmq way). */
export function randomPrefix(tag = 't'): string {
  return `test:${tag}:${randomBytes(6).toString('hex')}`;
}
