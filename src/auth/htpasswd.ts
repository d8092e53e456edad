// Basic auth for the registry: distribution's `auth.htpasswd` file (bcrypt only) and the
// credential rules imposed by containerd, which writes them unescaped into "..." in its TOML config.
import { randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';

const BCRYPT_COST = 10;
// bcrypt only looks at the first 72 bytes; newer golang.org/x/crypto refuses longer passwords.
const BCRYPT_MAX_BYTES = 72;

/** One htpasswd line `user:$2y$10$...` plus newline, as distribution's auth.htpasswd reads it. */
export function renderHtpasswd(user: string, password: string): string {
  const userProblem = validateUsername(user);
  if (userProblem) throw new Error(userProblem);
  const passwordProblem = validatePassword(password);
  if (passwordProblem) throw new Error(passwordProblem);
  // bcryptjs writes $2b$; $2y$ is the same algorithm under Apache htpasswd's tag, which
  // golang.org/x/crypto/bcrypt (used by distribution) and every htpasswd reader accept.
  const hash = bcrypt.hashSync(password, BCRYPT_COST).replace(/^\$2[ab]\$/, '$2y$');
  return `${user}:${hash}\n`;
}

/** True when `password` matches the bcrypt hash for `user` in htpasswd `content`. */
export function htpasswdMatches(content: string, user: string, password: string): boolean {
  for (const line of content.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0 && line.slice(0, i) === user) return bcrypt.compareSync(password, line.slice(i + 1).trim());
  }
  return false;
}

/** 32 characters from [A-Za-z0-9_-]: safe in URLs, TOML strings, htpasswd and shell words. */
export function generatePassword(): string {
  return randomBytes(24).toString('base64url');
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Why `password` cannot be the auth-basic-password, or null when it can. */
export function validatePassword(password: string): string | null {
  if (password.trim() === '') return 'auth-basic-password must not be empty or only whitespace';
  if (/["\\]/.test(password)) {
    return 'auth-basic-password must not contain " or \\: containerd writes it into its TOML config unescaped';
  }
  if (CONTROL.test(password)) return 'auth-basic-password must not contain control characters such as newlines or tabs';
  if (Buffer.byteLength(password, 'utf8') > BCRYPT_MAX_BYTES) {
    return `auth-basic-password must be at most ${BCRYPT_MAX_BYTES} bytes: bcrypt ignores or refuses the rest`;
  }
  return null;
}

/** Why `user` cannot be the auth-basic-user, or null when it can. */
export function validateUsername(user: string): string | null {
  if (user.trim() === '') return 'auth-basic-user must not be empty or only whitespace';
  if (user.includes(':')) return 'auth-basic-user must not contain ":": htpasswd and HTTP basic auth split user from password there';
  if (/["\\]/.test(user)) return 'auth-basic-user must not contain " or \\: containerd writes it into its TOML config unescaped';
  if (/\s/.test(user) || CONTROL.test(user)) return 'auth-basic-user must not contain whitespace or control characters';
  return null;
}
