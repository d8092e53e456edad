// The credential rules imposed by containerd, which writes them unescaped into "..." in its TOML
// config, and by bcrypt. No bcrypt here: hooks that only validate do not load it.
import { randomBytes } from 'node:crypto';

// bcrypt only looks at the first 72 bytes; newer golang.org/x/crypto refuses longer passwords.
export const BCRYPT_MAX_BYTES = 72;

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
