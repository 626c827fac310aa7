// Passwords: argon2id hashes (irreversible, 002 5-2), the password policy, and generated credentials.
import { hash, verify } from '@node-rs/argon2';
import { randomBytes, randomInt } from 'node:crypto';

/** OWASP-recommended argon2id parameters (19 MiB, 2 passes); the library's default algorithm is argon2id. */
const ARGON2_OPTIONS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
  return hash(password, ARGON2_OPTIONS);
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false; // a malformed stored hash never authenticates
  }
}

/** Verified against when the login ID is unknown, so an unknown ID costs as much time as a wrong password. */
let dummyHash: Promise<string> | undefined;
export async function burnPasswordCheck(password: string): Promise<void> {
  dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
  await verifyPassword(await dummyHash, password);
}

/** Returns the user-facing reason the password is refused, or null when it is acceptable. */
export function passwordPolicyViolation(password: string): string | null {
  if (password.length < 8) return '新密码至少8位，且须同时包含字母和数字';
  if (!/[A-Za-z]/.test(password) || !/[0-9]/.test(password)) return '新密码至少8位，且须同时包含字母和数字';
  if (password.length > 128) return '新密码不能超过128位';
  return null;
}

// no 0/O, 1/l/I: these passwords are read off a screen and typed in by hand
const LETTERS = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ';
const DIGITS = '23456789';

/** A random password that satisfies the policy (12 characters, letters and digits). */
export function generatePassword(length = 12): string {
  const alphabet = LETTERS + DIGITS;
  for (;;) {
    let out = '';
    for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
    if (passwordPolicyViolation(out) === null) return out;
  }
}

/** SIP digest password for an agent's phone: long, random, never typed by the agent more than once. */
export function generateSipPassword(): string {
  return randomBytes(12).toString('base64url');
}
