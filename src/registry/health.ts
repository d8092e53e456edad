// Health of one instance: GET /v2/ answering with the distribution API version header. A registry
// whose storage health check fails (distribution's health.storagedriver: the store did not answer
// `threshold` checks in a row) answers every request, /v2/ included, with 503 and the errcode body
// {"errors":[{"code":"UNAVAILABLE",...,"detail":"health check failed: please see /debug/health"}]}
// and no API version header: the process is up, its store is not. Restarting it does not help;
// its reason is on its debug server's /debug/health.
import http from 'node:http';
import { createRequire } from 'node:module';

export interface Health {
  ok: boolean;
  status?: number;
  detail: string;
  /** The registry answers but its storage health check fails (503 UNAVAILABLE): not a process to restart. */
  storageUnhealthy?: boolean;
}

const BODY_LIMIT = 4096;

/** The distribution errcode body of a 503 from its health handler, or null when it is not one. */
export function storageUnavailable(status: number | undefined, body: string): string | null {
  if (status !== 503) return null;
  try {
    const errors = (JSON.parse(body) as { errors?: Array<{ code?: string; detail?: unknown }> }).errors;
    const unavailable = errors?.find((e) => e.code === 'UNAVAILABLE');
    if (!unavailable) return null;
    return typeof unavailable.detail === 'string' && unavailable.detail ? unavailable.detail : 'service unavailable';
  } catch {
    return null;
  }
}

export function probe(url: string, timeoutMs = 2000): Promise<Health> {
  // node:https (and node:tls under it) is loaded only for a TLS instance: a plain-HTTP hook never parses it.
  // (Required, not import()ed: the hook bundle runs from a V8 code cache, see src/boot.ts.)
  const client = url.startsWith('https:') ? (createRequire(import.meta.url)('node:https') as typeof import('node:https')) : http;
  return new Promise((resolve) => {
    // Liveness only: the certificate is checked by clients, not by this probe.
    const req = client.get(`${url}/v2/`, { timeout: timeoutMs, rejectUnauthorized: false }, (res) => {
      const api = res.headers['docker-distribution-api-version'];
      // 401 still means the registry is up (auth is on).
      const ok = (res.statusCode === 200 || res.statusCode === 401) && api === 'registry/2.0';
      if (ok || res.statusCode !== 503) {
        res.resume();
        resolve({ ok, status: res.statusCode, detail: ok ? 'up' : `GET /v2/ answered ${res.statusCode}` });
        return;
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < BODY_LIMIT) body += chunk;
      });
      res.on('error', () => resolve({ ok: false, status: 503, detail: 'GET /v2/ answered 503' }));
      res.on('end', () => {
        const unavailable = storageUnavailable(503, body);
        resolve(
          unavailable
            ? { ok: false, status: 503, detail: `GET /v2/ answered 503 (${unavailable})`, storageUnhealthy: true }
            : { ok: false, status: 503, detail: 'GET /v2/ answered 503' },
        );
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ ok: false, detail: err.message }));
  });
}

/**
 * The registry's own account of its failing health checks, from its debug server's /debug/health
 * (`{"storagedriver_s3": "s3aws: RequestError: send request failed ..."}`), one line; null when
 * the debug server does not answer or reports nothing.
 */
export async function healthReasons(debugAddress: string, timeoutMs = 2000): Promise<string | null> {
  try {
    const res = await fetch(`http://${debugAddress}/debug/health`, { signal: AbortSignal.timeout(timeoutMs) });
    const checks = (await res.json()) as Record<string, unknown>;
    const reasons = Object.values(checks)
      .filter((v): v is string => typeof v === 'string' && v.length > 0)
      .map((v) => v.replace(/\s*\n\s*/g, ': ').trim());
    return reasons.length ? reasons.join('; ') : null;
  } catch {
    return null;
  }
}

/**
 * Waits for the instance to answer, until timeoutMs or until gaveUp() (asked about once a second)
 * says it died. An instance whose storage is unhealthy is up: waiting longer would not change that.
 */
export async function waitHealthy(url: string, timeoutMs: number, gaveUp?: () => Promise<boolean>): Promise<Health> {
  const deadline = Date.now() + timeoutMs;
  let nextCheck = Date.now() + 300;
  for (;;) {
    const health = await probe(url, 1000);
    if (health.ok || health.storageUnhealthy || Date.now() > deadline) return health;
    if (gaveUp && Date.now() >= nextCheck) {
      nextCheck = Date.now() + 1000;
      if (await gaveUp()) {
        const last = await probe(url, 1000);
        return last.ok || last.storageUnhealthy ? last : health;
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
