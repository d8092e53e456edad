// Health of one instance: GET /v2/ answering with the distribution API version header.
import http from 'node:http';
import { createRequire } from 'node:module';

export interface Health { ok: boolean; status?: number; detail: string }

export function probe(url: string, timeoutMs = 2000): Promise<Health> {
  // node:https (and node:tls under it) is loaded only for a TLS instance: a plain-HTTP hook never parses it.
  // (Required, not import()ed: the hook bundle runs from a V8 code cache, see src/boot.ts.)
  const client = url.startsWith('https:') ? (createRequire(import.meta.url)('node:https') as typeof import('node:https')) : http;
  return new Promise((resolve) => {
    // Liveness only: the certificate is checked by clients, not by this probe.
    const req = client.get(`${url}/v2/`, { timeout: timeoutMs, rejectUnauthorized: false }, (res) => {
      res.resume();
      const api = res.headers['docker-distribution-api-version'];
      // 401 still means the registry is up (auth is on).
      const ok = (res.statusCode === 200 || res.statusCode === 401) && api === 'registry/2.0';
      resolve({ ok, status: res.statusCode, detail: ok ? 'up' : `GET /v2/ answered ${res.statusCode}` });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ ok: false, detail: err.message }));
  });
}

/** Waits for the instance to answer, until timeoutMs or until gaveUp() (asked about once a second) says it died. */
export async function waitHealthy(url: string, timeoutMs: number, gaveUp?: () => Promise<boolean>): Promise<Health> {
  const deadline = Date.now() + timeoutMs;
  let nextCheck = Date.now() + 300;
  for (;;) {
    const health = await probe(url, 1000);
    if (health.ok || Date.now() > deadline) return health;
    if (gaveUp && Date.now() >= nextCheck) {
      nextCheck = Date.now() + 1000;
      if (await gaveUp()) return (await probe(url, 1000)).ok ? { ok: true, detail: 'up' } : health;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
