import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { auditCluster, auditWorkloads, fetchWorkloads, type PodLike, type Workloads } from '../../src/day2/audit.js';
import type { Catalog } from '../../src/day2/served.js';
import { freePort } from '../support/ports.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const TOKEN = 'kube-token-do-not-leak-1234567890';

const catalog: Catalog = {
  'cdk/pause:3.9': { host: 'rocks.canonical.com:443', digest: d('1'), source: 'x' },
  'cdk/coredns/coredns:v1.11.1': { host: 'rocks.canonical.com:443', digest: d('2'), source: 'x' },
  'library/busybox:1.36': { host: 'docker.io', digest: d('3'), source: 'x' },
  'myteam/app:2': { host: '10.0.0.7:5000', digest: d('4'), source: 'x' },
};
const mirrors = ['rocks.canonical.com', 'rocks.canonical.com:443', 'docker.io'];
const netloc = '10.0.0.7:5000';

const podSpec = (containers: string[], init: string[] = [], ephemeral: string[] = []) => ({
  containers: containers.map((image, i) => ({ name: `c${i}`, image })),
  ...(init.length ? { initContainers: init.map((image, i) => ({ name: `init${i}`, image })) } : {}),
  ...(ephemeral.length ? { ephemeralContainers: ephemeral.map((image, i) => ({ name: `debug${i}`, image })) } : {}),
});
const meta = (namespace: string, name: string) => ({ name, namespace, uid: `${namespace}-${name}`, resourceVersion: '100' });

const pods = [
  {
    metadata: meta('kube-system', 'coredns-5d78c9869d-abcde'),
    spec: podSpec(['rocks.canonical.com:443/cdk/coredns/coredns:v1.11.1'], ['busybox:1.36'], ['quay.io/debug/tools:1']),
    status: { phase: 'Running', containerStatuses: [{ name: 'c0', image: 'rocks.canonical.com:443/cdk/coredns/coredns:v1.11.1', ready: true, restartCount: 0, imageID: '', state: { running: { startedAt: '2024-01-01T00:00:00Z' } } }] },
  },
  {
    metadata: meta('default', 'web-0'),
    spec: podSpec(['rocks.canonical.com/cdk/nginx:1.25', '10.0.0.7:5000/myteam/app:2']),
    status: {
      phase: 'Pending',
      containerStatuses: [
        { name: 'c0', image: 'rocks.canonical.com/cdk/nginx:1.25', ready: false, restartCount: 0, imageID: '', state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "rocks.canonical.com/cdk/nginx:1.25"' } } },
        { name: 'c1', image: '10.0.0.7:5000/myteam/app:2', ready: true, restartCount: 0, imageID: '', state: { running: {} } },
      ],
      initContainerStatuses: [],
    },
  },
  {
    metadata: meta('default', 'init-stuck'),
    spec: podSpec(['busybox:1.36'], ['10.0.0.7:5000/myteam/migrate:1']),
    status: {
      phase: 'Pending',
      initContainerStatuses: [{ name: 'init0', image: '10.0.0.7:5000/myteam/migrate:1', ready: false, restartCount: 0, imageID: '', state: { waiting: { reason: 'ErrImagePull', message: 'not found' } } }],
      containerStatuses: [{ name: 'c0', image: 'busybox:1.36', ready: false, restartCount: 0, imageID: '', state: { waiting: { reason: 'PodInitializing' } } }],
    },
  },
];

const lists: Record<string, { kind: string; apiVersion: string; items: unknown[] }> = {
  '/apis/apps/v1/deployments': { kind: 'DeploymentList', apiVersion: 'apps/v1', items: [{ metadata: meta('kube-system', 'coredns'), spec: { selector: { matchLabels: { k: 'v' } }, template: { spec: podSpec(['rocks.canonical.com:443/cdk/coredns/coredns:v1.11.1']) } } }] },
  '/apis/apps/v1/daemonsets': { kind: 'DaemonSetList', apiVersion: 'apps/v1', items: [{ metadata: meta('kube-system', 'calico-node'), spec: { selector: { matchLabels: { k: 'v' } }, template: { spec: podSpec(['rocks.canonical.com:443/cdk/calico/node:v3.27'], ['rocks.canonical.com:443/cdk/pause:3.9']) } } }] },
  '/apis/apps/v1/statefulsets': { kind: 'StatefulSetList', apiVersion: 'apps/v1', items: [{ metadata: meta('default', 'web'), spec: { serviceName: 'web', selector: { matchLabels: { k: 'v' } }, template: { spec: podSpec(['rocks.canonical.com/cdk/nginx:1.25']) } } }] },
  '/apis/batch/v1/jobs': { kind: 'JobList', apiVersion: 'batch/v1', items: [{ metadata: meta('default', 'report-28500000'), spec: { template: { spec: podSpec(['busybox:1.36']) } } }] },
  '/apis/batch/v1/cronjobs': { kind: 'CronJobList', apiVersion: 'batch/v1', items: [{ metadata: meta('default', 'report'), spec: { schedule: '0 * * * *', jobTemplate: { spec: { template: { spec: podSpec(['busybox@' + d('9')]) } } } } }] },
};

interface FakeApi {
  server: string;
  requests: Array<{ path: string; auth?: string }>;
  stop(): Promise<void>;
}

/** A Kubernetes API stand-in on 127.0.0.1: the list endpoints, pods in pages of `limit` with continue tokens. */
async function startFakeApi(): Promise<FakeApi> {
  const requests: FakeApi['requests'] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push({ path: url.pathname, auth: req.headers.authorization });
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return send(401, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Unauthorized', code: 401 });
    if (url.pathname === '/api/v1/pods') {
      const limit = Number(url.searchParams.get('limit') ?? pods.length);
      const start = Number(url.searchParams.get('continue') ?? 0);
      const page = Math.min(limit, 2); // the server may return fewer than asked; the client must follow continue
      const next = start + page < pods.length ? String(start + page) : undefined;
      return send(200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '200', ...(next ? { continue: next } : {}) }, items: pods.slice(start, start + page) });
    }
    const list = lists[url.pathname];
    if (list) return send(200, { ...list, metadata: { resourceVersion: '200' } });
    send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    server: `http://127.0.0.1:${port}`,
    requests,
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function kubeconfig(server: string, token = TOKEN): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: ck8s',
    '  cluster:',
    `    server: ${server}`,
    'users:',
    '- name: admin',
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: ck8s',
    '  context: {cluster: ck8s, user: admin}',
    'current-context: ck8s',
    '',
  ].join('\n');
}

describe('auditWorkloads (pure)', () => {
  test('servable by mirrored host or own netloc; reasons for the rest; pull failures from init and app containers', () => {
    const w: Workloads = {
      pods: pods as PodLike[],
      deployments: lists['/apis/apps/v1/deployments'].items as Workloads['deployments'],
      daemonsets: lists['/apis/apps/v1/daemonsets'].items as Workloads['daemonsets'],
      statefulsets: lists['/apis/apps/v1/statefulsets'].items as Workloads['statefulsets'],
      jobs: lists['/apis/batch/v1/jobs'].items as Workloads['jobs'],
      cronjobs: lists['/apis/batch/v1/cronjobs'].items as Workloads['cronjobs'],
    };
    const r = auditWorkloads(w, catalog, mirrors, netloc);
    expect(r.images).toEqual([
      { image: '10.0.0.7:5000/myteam/app:2', usedBy: ['Pod/default/web-0'], servable: true },
      { image: '10.0.0.7:5000/myteam/migrate:1', usedBy: ['Pod/default/init-stuck'], servable: false, reason: 'myteam/migrate:1 is not in the registry; load it' },
      { image: 'busybox:1.36', usedBy: ['Job/default/report-28500000', 'Pod/default/init-stuck', 'Pod/kube-system/coredns-5d78c9869d-abcde'], servable: true },
      { image: `busybox@${d('9')}`, usedBy: ['CronJob/default/report'], servable: false, reason: `library/busybox@${d('9')} is not in the registry; load it` },
      { image: 'quay.io/debug/tools:1', usedBy: ['Pod/kube-system/coredns-5d78c9869d-abcde'], servable: false, reason: 'host quay.io is not mirrored by this registry; pulls go to quay.io' },
      { image: 'rocks.canonical.com/cdk/nginx:1.25', usedBy: ['Pod/default/web-0', 'StatefulSet/default/web'], servable: false, reason: 'cdk/nginx:1.25 is not in the registry; load it' },
      { image: 'rocks.canonical.com:443/cdk/calico/node:v3.27', usedBy: ['DaemonSet/kube-system/calico-node'], servable: false, reason: 'cdk/calico/node:v3.27 is not in the registry; load it' },
      { image: 'rocks.canonical.com:443/cdk/coredns/coredns:v1.11.1', usedBy: ['Deployment/kube-system/coredns', 'Pod/kube-system/coredns-5d78c9869d-abcde'], servable: true },
      { image: 'rocks.canonical.com:443/cdk/pause:3.9', usedBy: ['DaemonSet/kube-system/calico-node'], servable: true },
    ]);
    expect(r.pulling).toEqual([
      { pod: 'web-0', namespace: 'default', container: 'c0', image: 'rocks.canonical.com/cdk/nginx:1.25', reason: 'ImagePullBackOff', message: 'Back-off pulling image "rocks.canonical.com/cdk/nginx:1.25"' },
      { pod: 'init-stuck', namespace: 'default', container: 'init0', image: '10.0.0.7:5000/myteam/migrate:1', reason: 'ErrImagePull', message: 'not found' },
    ]);
  });

  test('other tags of the same repository are named in the reason', () => {
    const w: Workloads = { pods: [{ metadata: meta('a', 'p'), spec: podSpec(['rocks.canonical.com/cdk/pause:3.8']) }], deployments: [], daemonsets: [], statefulsets: [], jobs: [], cronjobs: [] };
    expect(auditWorkloads(w, catalog, mirrors, netloc).images[0].reason).toBe('cdk/pause:3.8 is not in the registry (served tags of cdk/pause: 3.9); load it');
  });
});

describe('auditCluster against a local API server', () => {
  test('reads every kind from a local API server, following pod pages, with the kubeconfig token', async () => {
    const api = await startFakeApi();
    try {
      const logs: string[] = [];
      const r = await auditCluster({ kubeconfig: kubeconfig(api.server), served: catalog, mirroredHosts: mirrors, registryNetloc: netloc, log: async (l) => void logs.push(l) });
      expect(r.images.map((i) => [i.image, i.servable])).toEqual([
        ['10.0.0.7:5000/myteam/app:2', true],
        ['10.0.0.7:5000/myteam/migrate:1', false],
        ['busybox:1.36', true],
        [`busybox@${d('9')}`, false],
        ['quay.io/debug/tools:1', false],
        ['rocks.canonical.com/cdk/nginx:1.25', false],
        ['rocks.canonical.com:443/cdk/calico/node:v3.27', false],
        ['rocks.canonical.com:443/cdk/coredns/coredns:v1.11.1', true],
        ['rocks.canonical.com:443/cdk/pause:3.9', true],
      ]);
      expect(r.images.find((i) => i.image === 'quay.io/debug/tools:1')?.usedBy).toEqual(['Pod/kube-system/coredns-5d78c9869d-abcde']);
      expect(r.pulling.map((p) => `${p.namespace}/${p.pod}/${p.container}:${p.reason}`)).toEqual(['default/web-0/c0:ImagePullBackOff', 'default/init-stuck/init0:ErrImagePull']);
      expect(api.requests.filter((q) => q.path === '/api/v1/pods')).toHaveLength(2);
      expect(new Set(api.requests.map((q) => q.path))).toEqual(new Set(['/api/v1/pods', ...Object.keys(lists)]));
      expect(api.requests.every((q) => q.auth === `Bearer ${TOKEN}`)).toBe(true);
      expect(logs).toEqual([`audit: 3 pods, 1 deployments, 1 daemonsets, 1 statefulsets, 1 jobs, 1 cronjobs from ${api.server}`]);
    } finally {
      await api.stop();
    }
  });

  test('refused credentials name the server and HTTP status, never the token', async () => {
    const api = await startFakeApi();
    try {
      const err = await fetchWorkloads(kubeconfig(api.server, 'wrong-token-abcdef'), 5000).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(new RegExp(`^the Kubernetes API server at ${api.server} answered HTTP 401 to list \\w+: the kubeconfig credentials were refused`));
      expect((err as Error).message).not.toContain('wrong-token');
    } finally {
      await api.stop();
    }
  });

  test('API server down: a closed port fails fast, naming the server URL', async () => {
    const port = await freePort();
    const started = Date.now();
    // A deadline far beyond any busy machine's slowness: failing fast means not waiting for it.
    const err = await fetchWorkloads(kubeconfig(`http://127.0.0.1:${port}`), 60_000).catch((e: Error) => e);
    expect((err as Error).message).toMatch(new RegExp(`^cannot reach the Kubernetes API server at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\) listing \\w+; check the kubeconfig's server address`));
    expect((err as Error).message).not.toContain(TOKEN);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  test('an API server that accepts and never answers is given up on at the deadline', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => void sockets.add(s));
    const port = await freePort();
    await new Promise<void>((r) => silent.listen(port, '127.0.0.1', r));
    try {
      const started = Date.now();
      const err = await fetchWorkloads(kubeconfig(`http://127.0.0.1:${port}`), 800).catch((e: Error) => e);
      const ms = Date.now() - started;
      expect((err as Error).message).toBe(`the Kubernetes API server at http://127.0.0.1:${port} did not answer within 0.8 s; check that the cluster is up and reachable from this unit`);
      expect(ms).toBeGreaterThanOrEqual(750);
      // Given up on, not hung until the server closes (which happens only after this).
      expect(sockets.size).toBeGreaterThan(0);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  test('a kubeconfig that is not YAML, or names no cluster, is refused without echoing it', async () => {
    const notYaml = `clusters: [ {server: "http://x"\ntoken: ${TOKEN}\n  - : : ]`;
    const err = await fetchWorkloads(notYaml).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/^the kubeconfig is not valid YAML( \(line \d+\))?: give a kubeconfig with clusters, users, contexts and current-context$/);
    expect((err as Error).message).not.toContain(TOKEN);
    await expect(fetchWorkloads('just a string')).rejects.toThrow(/^the kubeconfig is not a kubeconfig/);
    await expect(fetchWorkloads('  \n')).rejects.toThrow(/^the kubeconfig is empty/);
  });

  test('https with the cluster CA from certificate-authority-data; a wrong CA is a TLS error that names the fix', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'day2-kube-tls-'));
    const mkcert = (name: string) => {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, `${name}.key`), '-out', path.join(dir, `${name}.crt`), '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1'], { stdio: 'ignore' });
      return { key: fs.readFileSync(path.join(dir, `${name}.key`)), cert: fs.readFileSync(path.join(dir, `${name}.crt`)) };
    };
    const real = mkcert('api');
    const other = mkcert('other');
    const server = https.createServer({ key: real.key, cert: real.cert }, (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const kind = req.url?.startsWith('/api/v1/pods') ? 'PodList' : 'List';
      res.end(JSON.stringify({ kind, apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: kind === 'PodList' ? pods.slice(0, 1) : [] }));
    });
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    const withCa = (ca: Buffer) =>
      kubeconfig(`https://127.0.0.1:${port}`).replace(`    server: https://127.0.0.1:${port}`, `    server: https://127.0.0.1:${port}\n    certificate-authority-data: ${ca.toString('base64')}`);
    try {
      const { workloads } = await fetchWorkloads(withCa(real.cert), 5000);
      expect(workloads.pods.map((p) => p.metadata?.name)).toEqual(['coredns-5d78c9869d-abcde']);
      const err = await fetchWorkloads(withCa(other.cert), 5000).catch((e: Error) => e);
      expect((err as Error).message).toMatch(/^cannot reach the Kubernetes API server at https:\/\/127\.0\.0\.1:\d+ \((DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)\) .*check the kubeconfig's certificate-authority-data$/);
      // insecure-skip-tls-verify is honoured.
      const insecure = kubeconfig(`https://127.0.0.1:${port}`).replace(`    server: https://127.0.0.1:${port}`, `    server: https://127.0.0.1:${port}\n    insecure-skip-tls-verify: true`);
      expect((await fetchWorkloads(insecure, 5000)).workloads.pods).toHaveLength(1);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
