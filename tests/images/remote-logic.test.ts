// Pure logic of the push client: digest verification, bounded parallelism, URLs, error text, retry policy.
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { httpError, parseDistributionErrors, RegistryError } from '../../src/images/remote/errors.js';
import { isRetryable, withRetries } from '../../src/images/remote/http.js';
import { mapLimit } from '../../src/images/remote/limit.js';
import { apiUrl, checkRepo, describeRef, nextLink, parseBaseUrl, uploadCompleteUrl } from '../../src/images/remote/names.js';
import { DigestVerifier } from '../../src/images/remote/verify.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function chunksOf(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
}

/** Runs data through a verifier; reports what reached the far side and the error, if any. */
async function verify(data: Buffer, digest: string, size: number): Promise<{ passed: Buffer; error: Error | null }> {
  const received: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      received.push(chunk);
      cb();
    },
  });
  const error = await pipeline(Readable.from(chunksOf(data, 1000)), new DigestVerifier(digest, size), sink).then(
    () => null,
    (e: Error) => e,
  );
  return { passed: Buffer.concat(received), error };
}

describe('DigestVerifier', () => {
  const data = Buffer.from(Array.from({ length: 10_500 }, (_, i) => (i * 7) % 256));

  test('passes a matching blob through byte for byte', async () => {
    const { passed, error } = await verify(data, sha(data), data.length);
    expect(error).toBeNull();
    expect(passed.equals(data)).toBe(true);
  });

  test('a wrong digest fails and the last chunk never leaves', async () => {
    const wrong = sha(Buffer.from('something else'));
    const { passed, error } = await verify(data, wrong, data.length);
    expect(error?.message).toBe(`blob ${wrong} does not match its digest: got ${sha(data)}`);
    expect(passed.length).toBe(10_000); // 11 chunks, the 500-byte last one held back
    expect(passed.length).toBeLessThan(data.length);
  });

  test('a short stream fails before all declared bytes are sent', async () => {
    const { passed, error } = await verify(data, sha(data), data.length + 1);
    expect(error?.message).toMatch(/is shorter than its declared size: its stream gave 10500 of 10501 bytes/);
    expect(passed.length).toBeLessThan(data.length + 1);
  });

  test('a long stream fails as soon as it passes the declared size', async () => {
    const { passed, error } = await verify(data, sha(data.subarray(0, 5000)), 5000);
    expect(error?.message).toMatch(/is longer than its declared size of 5000 bytes/);
    expect(passed.length).toBeLessThan(5000);
  });

  test('an empty blob verifies', async () => {
    const { passed, error } = await verify(Buffer.alloc(0), sha(Buffer.alloc(0)), 0);
    expect(error).toBeNull();
    expect(passed.length).toBe(0);
  });

  test('respects backpressure: a slow sink keeps the verifier from buffering the whole source', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024, 1);
    let produced = 0;
    let maxAhead = 0;
    let consumed = 0;
    const source = new Readable({
      read() {
        if (produced >= big.length) return void this.push(null);
        this.push(big.subarray(produced, produced + 65536));
        produced += 65536;
      },
    });
    const sink = new Writable({
      highWaterMark: 65536,
      write(chunk: Buffer, _enc, cb) {
        consumed += chunk.length;
        maxAhead = Math.max(maxAhead, produced - consumed);
        setImmediate(cb);
      },
    });
    await pipeline(source, new DigestVerifier(sha(big), big.length), sink);
    expect(consumed).toBe(big.length);
    expect(maxAhead).toBeLessThan(1024 * 1024);
  });
});

describe('mapLimit', () => {
  test('keeps order and never exceeds the limit', async () => {
    let inFlight = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 4, 2, 3, 0, 6], 3, async (n) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, n * 3));
      inFlight--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30, 0, 60]);
    expect(peak).toBe(3);
  });

  test('stops starting new items after the first failure and throws it', async () => {
    const started: number[] = [];
    const run = mapLimit([0, 1, 2, 3, 4, 5], 2, async (n) => {
      started.push(n);
      // Item 1 fails while item 0 is still running, so neither worker may pick up item 2.
      await new Promise((r) => setTimeout(r, n === 0 ? 30 : 5));
      if (n === 1) throw new Error('item 1 failed');
      return n;
    });
    await expect(run).rejects.toThrow('item 1 failed');
    expect(started).toEqual([0, 1]);
  });

  test('rejects a nonsense limit', async () => {
    await expect(mapLimit([1], 0, async (n) => n)).rejects.toThrow(/limit must be a positive integer/);
  });
});

describe('names and URLs', () => {
  const base = parseBaseUrl('http://127.0.0.1:5000/');

  test('API URLs keep a path prefix and never double a slash', () => {
    expect(apiUrl(base, 'cdk/pause/blobs/uploads/').href).toBe('http://127.0.0.1:5000/v2/cdk/pause/blobs/uploads/');
    expect(apiUrl(parseBaseUrl('https://r.example/mirror/'), '').href).toBe('https://r.example/mirror/v2/');
    expect(nextLink(parseBaseUrl('https://r.example/mirror'), '<v2/_catalog?n=2&last=a>; rel="next"')?.href).toBe(
      'https://r.example/mirror/v2/_catalog?n=2&last=a',
    );
  });

  test('the closing PUT keeps the Location query and appends the digest', () => {
    const d = `sha256:${'a'.repeat(64)}`;
    expect(uploadCompleteUrl(base, '/v2/cdk/pause/blobs/uploads/u1?_state=ab%2Bc%3D%3D', d).href).toBe(
      `http://127.0.0.1:5000/v2/cdk/pause/blobs/uploads/u1?_state=ab%2Bc%3D%3D&digest=sha256%3A${'a'.repeat(64)}`,
    );
    expect(uploadCompleteUrl(base, 'https://other:443/up/u2', d).href).toBe(`https://other/up/u2?digest=sha256%3A${'a'.repeat(64)}`);
  });

  test('Link rel="next" is found and resolved; absence gives null', () => {
    expect(nextLink(base, '</v2/_catalog?last=b&n=2>; rel="next"')?.href).toBe('http://127.0.0.1:5000/v2/_catalog?last=b&n=2');
    expect(nextLink(base, '</x>; rel="prev", </y?n=1>; rel=next')?.pathname).toBe('/y');
    expect(nextLink(base, undefined)).toBeNull();
    expect(nextLink(base, '</x>; rel="prev"')).toBeNull();
  });

  test('repository names are checked and references described', () => {
    expect(() => checkRepo('cdk/pause')).not.toThrow();
    expect(() => checkRepo('docker.io/Library/nginx')).toThrow(/invalid repository name/);
    expect(() => checkRepo('a//b')).toThrow(/invalid repository name/);
    expect(describeRef('cdk/pause', '3.9')).toBe('cdk/pause:3.9');
    expect(describeRef('cdk/pause', `sha256:${'b'.repeat(64)}`)).toBe(`cdk/pause@sha256:${'b'.repeat(64)}`);
    expect(() => parseBaseUrl('ftp://x')).toThrow(/only http:\/\/ and https:\/\//);
    expect(() => parseBaseUrl('http://u:p@x')).toThrow(/must not carry credentials/);
  });
});

describe('error text and retry policy', () => {
  test('a registry error body becomes a RegistryError naming the thing, the code and the detail', () => {
    const body = JSON.stringify({ errors: [{ code: 'MANIFEST_BLOB_UNKNOWN', message: 'blob unknown to registry', detail: 'sha256:abc' }] });
    const err = httpError('PUT manifest cdk/pause:3.9', 400, Buffer.from(body));
    expect(err).toBeInstanceOf(RegistryError);
    expect(err.message).toBe('PUT manifest cdk/pause:3.9 refused by registry: MANIFEST_BLOB_UNKNOWN blob unknown to registry (sha256:abc)');
    expect(err.code).toBe('MANIFEST_BLOB_UNKNOWN');
    expect(err.status).toBe(400);
  });

  test('a 401 without a JSON body says what to fix; junk bodies parse to no errors', () => {
    const err = httpError('GET /v2/ at http://x', 401);
    expect(err.message).toMatch(/refused by registry: HTTP 401 Unauthorized .*username and password/);
    expect(parseDistributionErrors(Buffer.from('<html>'))).toEqual([]);
    expect(httpError('GET x', 503, Buffer.from('down')).message).toBe('GET x failed at registry: HTTP 503 Service Unavailable: down');
  });

  test('5xx and connection errors retry with backoff; 4xx does not', async () => {
    expect(isRetryable(new RegistryError('x', { status: 503 }))).toBe(true);
    expect(isRetryable(new RegistryError('x', { status: 404 }))).toBe(false);
    expect(isRetryable(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isRetryable(new Error('socket hang up'))).toBe(true);
    expect(isRetryable(new Error('blob does not match'))).toBe(false);

    let tries = 0;
    const started = Date.now();
    const result = await withRetries('thing', { maxRetries: 3, retryBaseMs: 10 }, async () => {
      if (++tries < 3) throw new RegistryError('busy', { status: 503 });
      return 'ok';
    });
    expect(result).toBe('ok');
    expect(tries).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(30); // 10 + 20 ms of backoff

    tries = 0;
    await expect(
      withRetries('thing', { maxRetries: 3, retryBaseMs: 1 }, async () => {
        tries++;
        throw new RegistryError('nope', { status: 404 });
      }),
    ).rejects.toThrow('nope');
    expect(tries).toBe(1);

    tries = 0;
    await expect(
      withRetries('GET /v2/ at http://127.0.0.1:1', { maxRetries: 2, retryBaseMs: 1 }, async () => {
        tries++;
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
      }),
    ).rejects.toThrow(/GET \/v2\/ at http:\/\/127.0.0.1:1 failed: connect ECONNREFUSED .*gave up after 3 tries/);
    expect(tries).toBe(3);
  });
});
