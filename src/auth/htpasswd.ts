// Basic auth for the registry: distribution's `auth.htpasswd` file (bcrypt only).
import bcrypt from 'bcryptjs';
import { validatePassword, validateUsername } from './credentials.js';

export { generatePassword, validatePassword, validateUsername } from './credentials.js';

const BCRYPT_COST = 10;

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

