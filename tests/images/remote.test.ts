// The push client against a real CNCF distribution registry (Debian docker-registry 2.8), through a
// small counting/fault-injecting proxy where the test needs to see or disturb the requests.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import bcrypt from 'bcryptjs';
import { createRegistryClient, MEDIA_TYPES, RegistryError, type RegistryClient } from '../../src/images/remote/index.js';
import { freePort, waitFor } from '../support/ports.js';
import { startTestRegistry, type TestRegistry } from '../support/registry.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const fast = { retryBaseMs: 10 };

/** Random bytes with their digest, streamed in 64 KiB pieces by a generator; counts how often it is opened. */
function randomBlob(size: number) {
  const bytes = randomBytes(size);
  const blob = {
    bytes,
    digest: sha(bytes),
    size,
    opened: 0,
    open: () => {
      blob.opened++;
      return Readable.from(
        (function* () {
          for (let i = 0; i < size; i += 65536) yield bytes.subarray(i, i + 65536);
        })(),
      );
    },
  };
  return blob;
}

type Fault = { status: number; body?: string } | 'reset' | null;
interface SeenRequest {
  method: string;
  path: string;
  /** Request body bytes that reached the proxy (and so were forwarded to the registry). */
  bodyBytes: number;
}
interface Proxy {
  url: string;
  requests: SeenRequest[];
  fault: (req: SeenRequest, index: number) => Fault;
  stop(): Promise<void>;
}

/** Forwards to `target` (keeping Host so the registry's Locations point back here), recording every request. */
async function startProxy(target: string): Promise<Proxy> {
  const upstream = new URL(target);
  const proxy: Proxy = { url: '', requests: [], fault: () => null, stop: async () => undefined };
  const server = http.createServer((req, res) => {
    const seen = { method: req.method ?? '', path: req.url ?? '', bodyBytes: 0 };
    req.on('data', (chunk: Buffer) => (seen.bodyBytes += chunk.length));
    const fault = proxy.fault(seen, proxy.requests.length);
    proxy.requests.push(seen);
    if (fault === 'reset') return void req.socket.destroy();
    if (fault) {
      res.writeHead(fault.status, { 'content-type': 'application/json' });
      return void res.end(fault.body ?? '');
    }
    const out = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  proxy.url = `http://127.0.0.1:${port}`;
  proxy.stop = async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  return proxy;
}

/** Uploads a config and one layer into `repo` and returns an OCI image manifest naming them. */
async function pushImageBlobs(client: RegistryClient, repo: string, arch = 'amd64'): Promise<Buffer> {
  const config = Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const layer = randomBlob(300_000);
  await client.uploadBlob(repo, sha(config), config.length, () => Readable.from([config]));
  await client.uploadBlob(repo, layer.digest, layer.size, layer.open);
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer.digest, size: layer.size }],
    }),
  );
}

describe('registry client against a real docker-registry', () => {
  let registry: TestRegistry;
  let client: ReturnType<typeof createRegistryClient>;
  const proxies: Proxy[] = [];
  const proxied = async () => {
    const p = await startProxy(registry.url);
    proxies.push(p);
    return p;
  };

  beforeAll(async () => {
    registry = await startTestRegistry();
    client = createRegistryClient({ baseUrl: registry.url }, fast);
  });
  afterAll(async () => {
    client?.close();
    for (const p of proxies) await p.stop();
    await registry?.stop();
  });

  test('ping reports the distribution API version', async () => {
    expect(await client.ping()).toEqual({ status: 200, apiVersion: 'registry/2.0' });
  });

  test('a streamed upload of a few MB lands with its size', async () => {
    const blob = randomBlob(5 * 1024 * 1024 + 123);
    expect(await client.hasBlob('test/upload', blob.digest)).toBeNull();
    await client.uploadBlob('test/upload', blob.digest, blob.size, blob.open);
    expect(await client.hasBlob('test/upload', blob.digest)).toBe(blob.size);
    expect(blob.opened).toBe(1);
  });

  test('a stream that does not match its digest is refused before the registry commits it', async () => {
    const proxy = await proxied();
    const viaProxy = createRegistryClient({ baseUrl: proxy.url }, fast);
    const blob = randomBlob(2 * 1024 * 1024);
    const claimed = sha(Buffer.from('not these bytes'));
    const attempt = viaProxy.uploadBlob('test/wrong', claimed, blob.size, blob.open);
    await expect(attempt).rejects.toThrow(`blob ${claimed} does not match its digest: got ${blob.digest}`);
    viaProxy.close();
    expect(blob.opened).toBe(1); // a data error is not retried
    const puts = proxy.requests.filter((r) => r.method === 'PUT');
    expect(puts).toHaveLength(1);
    expect(puts[0].bodyBytes).toBeLessThan(blob.size); // the registry never saw a complete body
    expect(proxy.requests.some((r) => r.method === 'DELETE')).toBe(true); // the upload session was cancelled
    expect(await client.hasBlob('test/wrong', claimed)).toBeNull();
    expect(await client.hasBlob('test/wrong', blob.digest)).toBeNull();
  });

  test('a short stream is refused and nothing is stored', async () => {
    const blob = randomBlob(1024 * 1024);
    const attempt = client.uploadBlob('test/short', blob.digest, blob.size + 10, blob.open);
    await expect(attempt).rejects.toThrow(`blob ${blob.digest} is shorter than its declared size: its stream gave ${blob.size} of ${blob.size + 10} bytes`);
    expect(await client.hasBlob('test/short', blob.digest)).toBeNull();
  });

  test('cross-repository mount: mounted from a repo that has the blob, not from one that lacks it', async () => {
    const blob = randomBlob(100_000);
    await client.uploadBlob('mount/source', blob.digest, blob.size, blob.open);
    expect(await client.mountBlob('mount/target', blob.digest, 'mount/source')).toBe(true);
    expect(await client.hasBlob('mount/target', blob.digest)).toBe(blob.size);
    expect(await client.mountBlob('mount/other', blob.digest, 'mount/empty')).toBe(false);
    expect(await client.hasBlob('mount/other', blob.digest)).toBeNull();
  });

  test('an OCI image manifest round-trips byte for byte, and a real client (skopeo) can pull the image', async () => {
    const manifest = await pushImageBlobs(client, 'cdk/pause');
    const digest = await client.putManifest('cdk/pause', '3.9', MEDIA_TYPES.ociManifest, manifest);
    expect(digest).toBe(sha(manifest));
    for (const ref of ['3.9', digest]) {
      const got = await client.getManifest('cdk/pause', ref);
      expect(got?.bytes.equals(manifest)).toBe(true);
      expect(got?.digest).toBe(digest);
      expect(got?.mediaType).toBe(MEDIA_TYPES.ociManifest);
    }
    expect(await client.hasManifest('cdk/pause', '3.9')).toBe(digest);
    expect(await client.hasManifest('cdk/pause', 'missing')).toBeNull();
    expect(await client.getManifest('cdk/pause', 'missing')).toBeNull();

    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'remote-skopeo-'));
    try {
      execFileSync('skopeo', ['copy', '--src-tls-verify=false', `docker://${registry.host}/cdk/pause:3.9`, `dir:${out}/img`], { stdio: 'pipe' });
      expect(fs.readFileSync(path.join(out, 'img', 'manifest.json')).equals(manifest)).toBe(true);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  test('a manifest whose blobs are missing is refused with MANIFEST_BLOB_UNKNOWN, without retries', async () => {
    const proxy = await proxied();
    const viaProxy = createRegistryClient({ baseUrl: proxy.url }, fast);
    const missing = sha(Buffer.from('never uploaded'));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: missing, size: 14 },
        layers: [],
      }),
    );
    const err = await viaProxy.putManifest('cdk/broken', '1.0', MEDIA_TYPES.ociManifest, manifest).catch((e: unknown) => e);
    viaProxy.close();
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).code).toBe('MANIFEST_BLOB_UNKNOWN');
    expect((err as RegistryError).status).toBe(400);
    expect((err as Error).message).toMatch(/^PUT manifest cdk\/broken:1\.0 refused by registry: MANIFEST_BLOB_UNKNOWN /);
    expect((err as Error).message).toContain(missing);
    expect(proxy.requests.filter((r) => r.method === 'PUT')).toHaveLength(1);
  });

  test('an index: children pushed by digest, then the index by tag', async () => {
    const amd64 = await pushImageBlobs(client, 'multi/app', 'amd64');
    const arm64 = await pushImageBlobs(client, 'multi/app', 'arm64');
    const children = [
      { bytes: amd64, arch: 'amd64' },
      { bytes: arm64, arch: 'arm64' },
    ];
    for (const c of children) expect(await client.putManifest('multi/app', sha(c.bytes), MEDIA_TYPES.ociManifest, c.bytes)).toBe(sha(c.bytes));
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociIndex,
        manifests: children.map((c) => ({
          mediaType: MEDIA_TYPES.ociManifest,
          digest: sha(c.bytes),
          size: c.bytes.length,
          platform: { architecture: c.arch, os: 'linux' },
        })),
      }),
    );
    const digest = await client.putManifest('multi/app', 'v1', MEDIA_TYPES.ociIndex, index);
    const got = await client.getManifest('multi/app', 'v1');
    expect(got).toEqual({ bytes: index, mediaType: MEDIA_TYPES.ociIndex, digest });
    for (const c of children) expect(await client.hasManifest('multi/app', sha(c.bytes))).toBe(sha(c.bytes));
  });

  test('Docker schema2 manifests and manifest lists come back unconverted', async () => {
    const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
    const layer = randomBlob(50_000);
    await client.uploadBlob('docker/app', sha(config), config.length, () => Readable.from([config]));
    await client.uploadBlob('docker/app', layer.digest, layer.size, layer.open);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.dockerManifest,
        config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha(config), size: config.length },
        layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar', digest: layer.digest, size: layer.size }],
      }),
    );
    await client.putManifest('docker/app', sha(manifest), MEDIA_TYPES.dockerManifest, manifest);
    const list = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.dockerManifestList,
        manifests: [{ mediaType: MEDIA_TYPES.dockerManifest, digest: sha(manifest), size: manifest.length, platform: { architecture: 'amd64', os: 'linux' } }],
      }),
    );
    const digest = await client.putManifest('docker/app', '2.0', MEDIA_TYPES.dockerManifestList, list);
    expect(await client.getManifest('docker/app', '2.0')).toEqual({ bytes: list, mediaType: MEDIA_TYPES.dockerManifestList, digest });
    expect(await client.hasManifest('docker/app', '2.0')).toBe(digest);
    // Asked without the list type, registry 2.8 answers with the linux/amd64 child: why we always send every type.
    expect((await client.getManifest('docker/app', '2.0', [MEDIA_TYPES.dockerManifest]))?.digest).toBe(sha(manifest));
  });

  test('catalog and tags follow pagination to the end', async () => {
    const proxy = await proxied();
    const paged = createRegistryClient({ baseUrl: proxy.url }, { ...fast, pageSize: 2 });
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
        layers: [],
      }),
    );
    const repos = ['list/a', 'list/b', 'list/c', 'list/d', 'list/e'];
    for (const repo of repos) {
      await paged.uploadBlob(repo, sha(config), config.length, () => Readable.from([config]));
      await paged.putManifest(repo, 'latest', MEDIA_TYPES.ociManifest, manifest);
    }
    for (const tag of ['1.0', '1.1', '2.0']) await paged.putManifest('list/a', tag, MEDIA_TYPES.ociManifest, manifest);

    const catalog = await paged.catalog();
    expect(catalog).toEqual(expect.arrayContaining(repos));
    expect(new Set(catalog).size).toBe(catalog.length);
    expect(proxy.requests.filter((r) => r.path.startsWith('/v2/_catalog')).length).toBeGreaterThanOrEqual(3);
    expect((await paged.tags('list/a')).sort()).toEqual(['1.0', '1.1', '2.0', 'latest']);
    expect(await paged.tags('list/never-pushed')).toEqual([]);
    paged.close();
  });

  test('deleteManifest removes a manifest by digest', async () => {
    const manifest = await pushImageBlobs(client, 'del/me');
    const digest = await client.putManifest('del/me', 'gone', MEDIA_TYPES.ociManifest, manifest);
    await client.deleteManifest('del/me', digest);
    expect(await client.hasManifest('del/me', digest)).toBeNull();
    expect(await client.getManifest('del/me', 'gone')).toBeNull();
    await expect(client.deleteManifest('del/me', digest)).rejects.toMatchObject({ status: 404, code: 'MANIFEST_UNKNOWN' });
  });

  test('retries: two 503s then success; a reset connection; an upload restarts from a fresh open() and POST', async () => {
    const proxy = await proxied();
    const flaky = createRegistryClient({ baseUrl: proxy.url }, fast);
    proxy.fault = (_r, i) => (i < 2 ? { status: 503, body: '{"errors":[{"code":"UNAVAILABLE","message":"busy"}]}' } : null);
    expect((await flaky.ping()).status).toBe(200);
    expect(proxy.requests).toHaveLength(3);

    proxy.requests.length = 0;
    proxy.fault = (_r, i) => (i === 0 ? 'reset' : null);
    expect(await flaky.hasBlob('retry/x', sha(Buffer.from('x')))).toBeNull();
    expect(proxy.requests).toHaveLength(2);

    proxy.requests.length = 0;
    let putsSeen = 0;
    proxy.fault = (r) => (r.method === 'PUT' && ++putsSeen === 1 ? { status: 503 } : null);
    const blob = randomBlob(3 * 1024 * 1024);
    await flaky.uploadBlob('retry/upload', blob.digest, blob.size, blob.open);
    expect(blob.opened).toBe(2);
    expect(proxy.requests.filter((r) => r.method === 'POST')).toHaveLength(2);
    expect(await client.hasBlob('retry/upload', blob.digest)).toBe(blob.size);

    proxy.requests.length = 0;
    proxy.fault = () => ({ status: 503 });
    await expect(flaky.ping()).rejects.toThrow(/failed at registry: HTTP 503 .*gave up after 4 tries/);
    expect(proxy.requests).toHaveLength(4);
    flaky.close();
  });

  test('no retry on a 4xx answer', async () => {
    const proxy = await proxied();
    const c = createRegistryClient({ baseUrl: proxy.url }, fast);
    proxy.fault = () => ({ status: 404, body: '{"errors":[{"code":"NOT_FOUND","message":"no such thing"}]}' });
    await expect(c.ping()).rejects.toMatchObject({ status: 404, code: 'NOT_FOUND', message: expect.stringMatching(/^GET \/v2\/ at http:\/\/127\.0\.0\.1:\d+ refused by registry: NOT_FOUND no such thing$/) });
    expect(proxy.requests).toHaveLength(1);
    c.close();
  });

  test('an unreachable registry fails with a message naming it, after the retries', async () => {
    const port = await freePort();
    const c = createRegistryClient({ baseUrl: `http://127.0.0.1:${port}` }, { retryBaseMs: 5, maxRetries: 1 });
    await expect(c.ping()).rejects.toThrow(new RegExp(`GET /v2/ at http://127.0.0.1:${port} failed: .*ECONNREFUSED.*gave up after 2 tries`));
    c.close();
  });
});

describe('registry client against an https registry with htpasswd auth', () => {
  let dir: string;
  let child: ChildProcess | undefined;
  let url: string;
  let ca: string;
  const user = 'charm';
  const password = randomBytes(12).toString('hex');

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remote-tls-'));
    const f = (name: string) => path.join(dir, name);
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    execFileSync('openssl', ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=test ca',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'], { stdio: 'pipe' });
    execFileSync('openssl', ['req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1'], { stdio: 'pipe' });
    fs.writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    execFileSync('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
      '-out', f('server.pem'), '-days', '1', '-extfile', f('ext.cnf')], { stdio: 'pipe' });
    ca = fs.readFileSync(f('ca.pem'), 'utf8');
    // Cost 4 keeps the registry's per-request bcrypt check cheap in tests.
    fs.writeFileSync(f('htpasswd'), `${user}:${bcrypt.hashSync(password, 4)}\n`, { mode: 0o600 });
    const port = await freePort();
    fs.writeFileSync(
      f('config.yml'),
      [
        'version: 0.1',
        'log: {level: warn}',
        `storage: {filesystem: {rootdirectory: ${JSON.stringify(f('data'))}}, delete: {enabled: true}}`,
        `http: {addr: "127.0.0.1:${port}", secret: test-secret, tls: {certificate: ${JSON.stringify(f('server.pem'))}, key: ${JSON.stringify(f('server.key'))}}}`,
        `auth: {htpasswd: {realm: test-realm, path: ${JSON.stringify(f('htpasswd'))}}}`,
      ].join('\n'),
    );
    child = spawn('docker-registry', ['serve', f('config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    url = `https://127.0.0.1:${port}`;
    const answers = () =>
      new Promise<boolean>((resolve) => {
        const req = https.get(`${url}/v2/`, { ca, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode === 401);
        });
        req.on('error', () => resolve(false));
      });
    await waitFor(answers, 10000, `docker-registry with TLS and htpasswd on ${url}`).catch((err: Error) => {
      throw new Error(`${err.message}\n${stderr}`);
    });
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child!.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('without the CA the certificate is refused, and that is not retried as a network blip', async () => {
    // A retry would first wait retryBaseMs (60 s): far beyond any slowness of a busy machine.
    const c = createRegistryClient({ baseUrl: url, username: user, password }, { retryBaseMs: 60_000 });
    const started = Date.now();
    await expect(c.ping()).rejects.toThrow(/certificate|self.signed|issuer/i);
    expect(Date.now() - started).toBeLessThan(30_000);
    c.close();
  });

  test('without credentials: RegistryError with status 401', async () => {
    const c = createRegistryClient({ baseUrl: url, ca }, fast);
    const err = await c.ping().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).status).toBe(401);
    expect((err as Error).message).toMatch(/^GET \/v2\/ at https:\/\/127\.0\.0\.1:\d+ refused by registry: UNAUTHORIZED .*username and password/);
    await expect(c.hasBlob('secure/app', sha(Buffer.from('x')))).rejects.toMatchObject({ status: 401 });
    c.close();
  });

  test('a wrong password is a 401 and never appears in the error', async () => {
    const wrong = 'wrong-' + password;
    const c = createRegistryClient({ baseUrl: url, ca, username: user, password: wrong }, fast);
    const err = (await c.ping().catch((e: unknown) => e)) as RegistryError;
    expect(err.status).toBe(401);
    expect(err.message).not.toContain(wrong);
    expect(err.message).not.toContain(Buffer.from(`${user}:${wrong}`).toString('base64'));
    c.close();
  });

  test('with the CA and credentials: upload, manifest, listing', async () => {
    const c = createRegistryClient({ baseUrl: url, ca, username: user, password }, fast);
    expect(await c.ping()).toEqual({ status: 200, apiVersion: 'registry/2.0' });
    const manifest = await pushImageBlobs(c, 'secure/app');
    const digest = await c.putManifest('secure/app', '1.0', MEDIA_TYPES.ociManifest, manifest);
    expect((await c.getManifest('secure/app', '1.0'))?.digest).toBe(digest);
    expect(await c.catalog()).toEqual(['secure/app']);
    expect(await c.tags('secure/app')).toEqual(['1.0']);
    c.close();
  });
});
