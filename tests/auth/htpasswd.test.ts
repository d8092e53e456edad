import path from 'node:path';
import bcrypt from 'bcryptjs';
import {
  generatePassword,
  htpasswdMatches,
  renderHtpasswd,
  validatePassword,
  validateUsername,
} from '../../src/auth/htpasswd.js';
import { startConfiguredRegistry } from '../support/registry.js';

describe('renderHtpasswd', () => {
  test('one user:bcrypt line with the $2y$ tag and cost 10, verified by bcryptjs', () => {
    const line = renderHtpasswd('admin', 'correct horse battery staple');
    expect(line).toMatch(/^admin:\$2y\$10\$[./A-Za-z0-9]{53}\n$/);
    const hash = line.trim().slice('admin:'.length);
    expect(bcrypt.compareSync('correct horse battery staple', hash)).toBe(true);
    expect(bcrypt.compareSync('wrong', hash)).toBe(false);
    expect(htpasswdMatches(line, 'admin', 'correct horse battery staple')).toBe(true);
    expect(htpasswdMatches(line, 'someone', 'correct horse battery staple')).toBe(false);
  });

  test('refuses credentials containerd or htpasswd cannot carry', () => {
    expect(() => renderHtpasswd('ad:min', 'pw')).toThrow(/auth-basic-user must not contain ":"/);
    expect(() => renderHtpasswd('admin', 'pa"ss')).toThrow(/auth-basic-password/);
  });
});

describe('generatePassword', () => {
  test('long, random, and only URL/TOML-safe characters', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const p = generatePassword();
      expect(p.length).toBeGreaterThanOrEqual(24);
      expect(p).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(validatePassword(p)).toBeNull();
      seen.add(p);
    }
    expect(seen.size).toBe(200);
  });
});

describe('validatePassword / validateUsername', () => {
  test('quote and backslash are refused with the reason', () => {
    const msg = 'auth-basic-password must not contain " or \\: containerd writes it into its TOML config unescaped';
    expect(validatePassword('abc"def')).toBe(msg);
    expect(validatePassword('abc\\def')).toBe(msg);
  });
  test('empty, whitespace-only, control characters and over 72 bytes are refused', () => {
    expect(validatePassword('')).toMatch(/empty/);
    expect(validatePassword('   ')).toMatch(/empty/);
    expect(validatePassword('a\nb')).toMatch(/control/);
    expect(validatePassword('x'.repeat(73))).toMatch(/72 bytes/);
    expect(validatePassword('x'.repeat(72))).toBeNull();
    expect(validatePassword("it's fine: with spaces & $ymbols")).toBeNull();
  });
  test('user names: no colon, quote, backslash, whitespace or empty', () => {
    expect(validateUsername('admin')).toBeNull();
    expect(validateUsername('a:b')).toMatch(/":"/);
    expect(validateUsername('a"b')).toMatch(/TOML/);
    expect(validateUsername('a b')).toMatch(/whitespace/);
    expect(validateUsername(' ')).toMatch(/empty/);
  });
});

describe('a real docker-registry with auth.htpasswd', () => {
  const password = generatePassword();
  let registry: Awaited<ReturnType<typeof startConfiguredRegistry>>;

  beforeAll(async () => {
    registry = await startConfiguredRegistry({
      files: { htpasswd: renderHtpasswd('puller', password) },
      config: (dir) => ({ auth: { htpasswd: { realm: 'offline-registry', path: path.join(dir, 'htpasswd') } } }),
    });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  const v2 = (authorization?: string) =>
    fetch(`http://127.0.0.1:${registry.port}/v2/`, {
      headers: authorization ? { authorization } : {},
      signal: AbortSignal.timeout(5000),
    });
  const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;

  test('no credentials: 401 with a Basic challenge', async () => {
    const res = await v2();
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="offline-registry"');
  });
  test('right credentials: 200 (distribution accepts the $2y$ hash)', async () => {
    expect((await v2(basic('puller', password))).status).toBe(200);
  });
  test('wrong password or user: 401', async () => {
    expect((await v2(basic('puller', `${password}x`))).status).toBe(401);
    expect((await v2(basic('other', password))).status).toBe(401);
  });
});
