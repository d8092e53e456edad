// client-node lives in dist/kube.cjs, apart from the hook bundle dist/bundle.cjs: the built bundles, the
// loader in audit.ts once bundled, and an action process that exits by itself whatever the API server does.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { freePort } from '../support/ports.js';

const repo = path.resolve(new URL('../..', import.meta.url).pathname);
const built = path.join(repo, 'build/charm/dist');
const TOKEN = 'bundle-token-never-printed-42';
// AUDIT_TEST_NODE runs the bundles under another Node.js, e.g. the oldest units have (18.19).
const NODE = process.env.AUDIT_TEST_NODE || process.execPath;
// A generated client-node method name: present in kube.cjs, and in bundle.cjs only if client-node got inlined.
const CLIENT_NODE_MARK = 'listPodForAllNamespaces';

function kubeconfig(server: string, token = TOKEN): string {
  return `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${server}"}}]\nusers: [{name: u, user: {token: ${token}}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`;
}

interface ChildResult {
  out: { counts?: Record<string, number>; server?: string; error?: string };
  stderr: string;
  code: number | null;
  ms: number;
}

/** Runs fetchWorkloads from `bundle` in a fresh node process, as the action would, and times its exit. */
function runFetch(bundle: string, config: string, timeoutMs: number): Promise<ChildResult> {
  const script = `
    const { fetchWorkloads } = await import(process.argv[1]);
    try {
      const { server, workloads } = await fetchWorkloads(process.env.AUDIT_KUBECONFIG, Number(process.argv[2]));
      const counts = Object.fromEntries(Object.entries(workloads).map(([k, v]) => [k, v.length]));
      console.log(JSON.stringify({ server, counts }));
    } catch (err) {
      console.log(JSON.stringify({ error: err.message }));
    }`;
  const started = Date.now();
  const child = spawn(NODE, ['--input-type=module', '-e', script, bundle, String(timeoutMs)], {
    env: { ...process.env, AUDIT_KUBECONFIG: config, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c));
  child.stderr.on('data', (c: Buffer) => (stderr += c));
  // A process kept alive by a socket or timer never exits while the test's servers hold their ends
  // open: this guard only ends such a hang (code null fails the test), it times nothing.
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(killer);
      const ms = Date.now() - started;
      let out: ChildResult['out'] = {};
      try {
        out = JSON.parse(stdout.trim().split('\n').pop() ?? '{}');
      } catch {
        out = { error: `no JSON from the child: ${stdout}` };
      }
      resolve({ out, stderr, code, ms });
    });
  });
}

/** A Kubernetes API stand-in on 127.0.0.1: one pod and one deployment, 401 for another token. */
async function startApi(): Promise<{ url: string; stop(): Promise<void> }> {
  const list = (kind: string, items: unknown[]) => ({ kind, apiVersion: 'v1', metadata: { resourceVersion: '1' }, items });
  const routes: Record<string, unknown> = {
    '/api/v1/pods': list('PodList', [{ metadata: { namespace: 'kube-system', name: 'p' }, spec: { containers: [{ name: 'c', image: 'busybox:1.36' }] } }]),
    '/apis/apps/v1/deployments': list('DeploymentList', [{ metadata: { namespace: 'default', name: 'd' }, spec: { template: { spec: { containers: [{ name: 'c', image: 'nginx:1.27' }] } } } }]),
    '/apis/apps/v1/daemonsets': list('DaemonSetList', []),
    '/apis/apps/v1/statefulsets': list('StatefulSetList', []),
    '/apis/batch/v1/jobs': list('JobList', []),
    '/apis/batch/v1/cronjobs': list('CronJobList', []),
  };
  const server = http.createServer((req, res) => {
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(401, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Unauthorized', code: 401 }));
    }
    const route = routes[new URL(req.url ?? '/', 'http://x').pathname];
    res.writeHead(route ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(route ?? { kind: 'Status', code: 404 }));
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'day2-kube-bundle-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function requireBuilt(name: string): string {
  const file = path.join(built, name);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run "npm run build" (npm test builds first)`);
  return file;
}

test('the hook bundle bundle.cjs holds no client-node; kube.cjs holds it', () => {
  const charm = fs.readFileSync(requireBuilt('bundle.cjs'), 'utf8');
  const kube = fs.readFileSync(requireBuilt('kube.cjs'), 'utf8');
  expect(charm.includes(CLIENT_NODE_MARK)).toBe(false);
  expect(kube.includes(CLIENT_NODE_MARK)).toBe(true);
  // The loader in bundle.cjs names its sibling.
  expect(charm).toContain('./kube.cjs');
  expect(charm.length).toBeLessThan(kube.length / 2);
});

describe('audit.ts bundled as dist/bundle.cjs next to the built dist/kube.cjs', () => {
  let charm: string;
  beforeAll(async () => {
    fs.mkdirSync(path.join(tmp, 'dist'));
    charm = path.join(tmp, 'dist/bundle.cjs');
    // As scripts/build.mjs bundles the hook code: CommonJS, import.meta.url from the bundle's own file name.
    const meta = { define: { 'import.meta.url': '__bundleUrl' }, inject: [path.join(repo, 'src/cjs-import-meta.ts')] };
    await build({ entryPoints: [path.join(repo, 'src/day2/audit.ts')], outfile: charm, bundle: true, platform: 'node', format: 'cjs', target: 'node18', logLevel: 'silent', ...meta });
    fs.copyFileSync(requireBuilt('kube.cjs'), path.join(tmp, 'dist/kube.cjs'));
  });

  test('the audit alone stays small: the loader does not pull client-node in', () => {
    const text = fs.readFileSync(charm, 'utf8');
    expect(text.includes(CLIENT_NODE_MARK)).toBe(false);
    expect(text.length).toBeLessThan(200 * 1024);
  });

  test('lists through the sibling bundle, and the process exits by itself', async () => {
    const api = await startApi();
    try {
      const r = await runFetch(charm, kubeconfig(api.url), 5000);
      expect(r.out).toEqual({ server: api.url, counts: { pods: 1, deployments: 1, daemonsets: 0, statefulsets: 0, jobs: 0, cronjobs: 0 } });
      // Exited by itself: a process kept alive by a socket or timer would be killed (code null).
      expect(r.code).toBe(0);
    } finally {
      await api.stop();
    }
  });

  test('a refused token (whose body client-node leaves unread) fails, names the server, and the process exits', async () => {
    const api = await startApi();
    try {
      const r = await runFetch(charm, kubeconfig(api.url, 'wrong-token-xyz'), 5000);
      expect(r.out.error).toMatch(new RegExp(`^the Kubernetes API server at ${api.url} answered HTTP 401 to list \\w+: the kubeconfig credentials were refused$`));
      expect(r.out.error).not.toContain('wrong-token-xyz');
      // Exited by itself: a process kept alive by a socket or timer would be killed (code null).
      expect(r.code).toBe(0);
    } finally {
      await api.stop();
    }
  });

  test('the first failed list ends the others: no hanging request keeps the process alive', async () => {
    // Pods are refused at once; every other list hangs until the server closes.
    const server = http.createServer((req, res) => {
      if (!req.url?.startsWith('/api/v1/pods')) return;
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403, message: 'pods is forbidden: cannot list resource "pods" at the cluster scope' }));
    });
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    try {
      const r = await runFetch(charm, kubeconfig(`http://127.0.0.1:${port}`), 10_000);
      expect(r.out.error).toBe(
        `the Kubernetes API server at http://127.0.0.1:${port} answered HTTP 403: pods is forbidden: cannot list resource "pods" at the cluster scope to list pods: the kubeconfig user may not list them cluster-wide`,
      );
      // Exited by itself: a process kept alive by a socket or timer would be killed (code null).
      expect(r.code).toBe(0);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  test('an API server that never answers: given up on at the deadline, no socket keeps the process alive', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => void sockets.add(s));
    const port = await freePort();
    await new Promise<void>((r) => silent.listen(port, '127.0.0.1', r));
    try {
      const r = await runFetch(charm, kubeconfig(`https://127.0.0.1:${port}`), 1000);
      expect(r.out.error).toBe(`the Kubernetes API server at https://127.0.0.1:${port} did not answer within 1 s; check that the cluster is up and reachable from this unit`);
      expect(r.code).toBe(0);
      expect(r.ms).toBeGreaterThanOrEqual(1000);
      // It exited by itself while the silent server still held its end open.
      expect([...sockets].some((s) => !s.destroyed)).toBe(true);
      expect(r.stderr).not.toContain(TOKEN);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  test('a charm packed without kube.cjs says what to do', async () => {
    const lone = path.join(tmp, 'lone/dist');
    fs.mkdirSync(lone, { recursive: true });
    fs.copyFileSync(charm, path.join(lone, 'bundle.cjs'));
    const r = await runFetch(path.join(lone, 'bundle.cjs'), kubeconfig('https://127.0.0.1:1'), 1000);
    expect(r.out.error).toBe(`the Kubernetes client bundle ${path.join(lone, 'kube.cjs')} is missing from the charm: rebuild and repack it (npm run pack)`);
  });
});
