// One HTTP exchange at a time over keep-alive node:http/https agents, plus the retry policy.
import http, { type ClientRequest, type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { RegistryError } from './errors.js';

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface TransportOptions {
  base: URL;
  username?: string;
  password?: string;
  /** PEM; when set it is the only CA trusted for https. */
  ca?: string;
  maxSockets: number;
  /** Socket idle timeout per request. */
  timeoutMs: number;
  /** Largest response body read into memory (manifests, listings, error bodies). */
  maxBodyBytes: number;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: Buffer;
  /** Streams the request body; must end or destroy `req`. Its rejection fails the request. */
  stream?: (req: ClientRequest) => Promise<void>;
  /** Follow 301/302/303/307/308 (GET and HEAD only). */
  followRedirects?: boolean;
}

export class Transport {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly authorization: string | null;

  constructor(private readonly opts: TransportOptions) {
    const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets, maxFreeSockets: opts.maxSockets };
    this.httpAgent = new http.Agent(agentOpts);
    this.httpsAgent = new https.Agent(opts.ca ? { ...agentOpts, ca: opts.ca } : agentOpts);
    this.authorization =
      opts.username !== undefined && opts.username !== ''
        ? `Basic ${Buffer.from(`${opts.username}:${opts.password ?? ''}`).toString('base64')}`
        : null;
  }

  async request(method: string, url: URL, options: RequestOptions = {}): Promise<RawResponse> {
    let current = url;
    for (let hops = 0; ; hops++) {
      const res = await this.exchange(method, current, options);
      const location = res.headers.location;
      const redirect = [301, 302, 303, 307, 308].includes(res.status);
      if (!redirect || !options.followRedirects || !location || (method !== 'GET' && method !== 'HEAD')) return res;
      if (hops >= 5) throw new RegistryError(`${method} ${url.pathname}: more than 5 redirects, last to ${location}`, { status: res.status });
      current = new URL(location, current);
    }
  }

  /**
   * GET whose 200 body is handed over as a stream (a blob), following redirects; any other answer
   * is read whole (an error body) and returned as a RawResponse for the caller to judge.
   */
  async openStream(url: URL): Promise<{ stream: http.IncomingMessage } | { response: RawResponse }> {
    let current = url;
    for (let hops = 0; hops <= 5; hops++) {
      const secure = current.protocol === 'https:';
      const headers: Record<string, string> = { 'user-agent': 'offline-registry' };
      if (this.authorization && current.origin === this.opts.base.origin) headers.authorization = this.authorization;
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        const req = (secure ? https : http).request(current, { method: 'GET', headers, agent: secure ? this.httpsAgent : this.httpAgent });
        req.setTimeout(this.opts.timeoutMs, () => req.destroy(Object.assign(new Error(`no answer from ${current.origin} for ${this.opts.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
        req.on('error', reject);
        req.on('response', resolve);
        req.end();
      });
      const location = res.headers.location;
      if ([301, 302, 303, 307, 308].includes(res.statusCode ?? 0) && location) {
        res.resume();
        current = new URL(location, current);
        continue;
      }
      if (res.statusCode === 200) return { stream: res };
      const chunks: Buffer[] = [];
      for await (const chunk of res) if (Buffer.concat(chunks).length < 65536) chunks.push(chunk as Buffer);
      return { response: { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) } };
    }
    throw new RegistryError(`GET ${url.pathname}: more than 5 redirects`);
  }

  private exchange(method: string, url: URL, options: RequestOptions): Promise<RawResponse> {
    const secure = url.protocol === 'https:';
    const headers: Record<string, string> = { 'user-agent': 'offline-registry', ...options.headers };
    // Credentials go only to the registry itself, never to a host it redirects to.
    if (this.authorization && url.origin === this.opts.base.origin) headers.authorization = this.authorization;
    if (options.body) headers['content-length'] = String(options.body.length);
    else if (!options.stream && method !== 'GET' && method !== 'HEAD') headers['content-length'] = '0';

    return new Promise<RawResponse>((resolve, reject) => {
      let settled = false;
      let bodySent = !options.stream;
      const fail = (err: unknown): void => {
        if (settled) return;
        settled = true;
        reject(err);
      };
      const req = (secure ? https : http).request(url, { method, headers, agent: secure ? this.httpsAgent : this.httpAgent });
      req.setTimeout(this.opts.timeoutMs, () => {
        const err = Object.assign(new Error(`no answer from ${url.origin} for ${this.opts.timeoutMs} ms`), { code: 'ETIMEDOUT' });
        req.destroy(err);
      });
      req.on('error', fail);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let length = 0;
        res.on('data', (chunk: Buffer) => {
          length += chunk.length;
          if (length > this.opts.maxBodyBytes) {
            res.destroy();
            req.destroy();
            fail(new RegistryError(`${method} ${url.pathname}: response body exceeds ${this.opts.maxBodyBytes} bytes`, { status: res.statusCode }));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', fail);
        res.on('aborted', () => fail(Object.assign(new Error(`${url.origin} closed the connection mid-response`), { code: 'ECONNRESET' })));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          // An early answer (an error before the body was all sent) ends the upload; stop streaming.
          if (!bodySent) req.destroy();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        });
      });
      if (options.stream) {
        options.stream(req).then(
          () => {
            bodySent = true;
          },
          (err: unknown) => {
            req.destroy(err as Error);
            fail(err);
          },
        );
      } else {
        req.end(options.body);
      }
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

const RETRYABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
]);

/** Connection failures and 5xx answers are worth another try; 4xx answers and data errors are not. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof RegistryError) return err.status !== undefined && err.status >= 500;
  // Duck-typed: errors from node core may come from another realm (e.g. under jest's vm), failing instanceof.
  if (typeof err !== 'object' || err === null) return false;
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && RETRYABLE_CODES.has(code)) return true;
  return typeof message === 'string' && /socket hang up|timed? ?out/i.test(message);
}

export interface RetryPolicy {
  /** Retries after the first try. */
  maxRetries: number;
  /** First delay; doubles after each failure. */
  retryBaseMs: number;
}

export async function withRetries<T>(what: string, policy: RetryPolicy, attempt: (tryNumber: number) => Promise<T>): Promise<T> {
  for (let tryNumber = 1; ; tryNumber++) {
    try {
      return await attempt(tryNumber);
    } catch (err) {
      const retryable = isRetryable(err);
      if (!retryable) throw err;
      if (tryNumber > policy.maxRetries) {
        const tries = `${tryNumber} ${tryNumber === 1 ? 'try' : 'tries'}`;
        if (err instanceof RegistryError) {
          throw new RegistryError(`${err.message} (gave up after ${tries})`, { status: err.status, code: err.code, cause: err });
        }
        throw new RegistryError(`${what} failed: ${String((err as { message?: unknown }).message ?? err)} (gave up after ${tries}; is the registry running and reachable?)`, {
          cause: err,
        });
      }
      await new Promise((r) => setTimeout(r, policy.retryBaseMs * 2 ** (tryNumber - 1)));
    }
  }
}
