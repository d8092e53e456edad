// COS through the packed charm's dispatch: relating a collector (grafana-agent or
// opentelemetry-collector, which read the same databag) publishes the library's unit data, and
// every scrape job in it answers with real metrics: the registry's own registry_http_* series
// after a pull, and the charm's facts, live (a failed load shows without another hook).
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { RunOutput, Simulator, State } from '../harness/index.js';
import { writeBusyboxSave } from '../support/archives.js';
import { freePortRun } from '../support/ports.js';
import { providerUnitDataProblems, pythonDecode } from '../cos/schema.js';
import { DEPLOY, cleanupUnits, loopbackState, portsOf, runAll, unit } from './charm-under-test.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cos-it-'));
afterAll(async () => {
  await cleanupUnits();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

/** GET over HTTPS trusting only the registry's CA (what a client of the public instance does). */
function httpsGet(url: string, ca: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    https.get(url, { ca, headers, timeout: 10000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });
}

/** The value of the sample `name{labels}` (labels in the order the exposition prints them), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const COS_RELATION = { id: 9, endpoint: 'cos-agent', remoteApp: 'opentelemetry-collector', remoteUnits: ['opentelemetry-collector/0'] };

describe('the cos-agent relation', () => {
  let sim: Simulator;
  let related: RunOutput;
  let metricsPort: number;
  let config: any;

  beforeAll(async () => {
    sim = await unit();
    const images = path.join(tmp, 'images.tar');
    writeBusyboxSave(images, ['busybox:1.36']);
    const base = await loopbackState({
      resources: { images },
      relations: [{ id: 1, endpoint: 'registry-peers', remoteApp: 'offline-registry', remoteUnits: [] }, COS_RELATION],
      model: { name: 'air-gapped' },
    });
    metricsPort = await freePortRun([portsOf(base).port, portsOf(base).writerPort]);
    const state: State = { ...base, config: { ...base.config, tls: true, 'metrics-port': metricsPort } };
    let out = await runAll(sim, DEPLOY, state);
    for (const hook of ['cos-agent-relation-created', 'cos-agent-relation-joined', 'cos-agent-relation-changed']) {
      out = await sim.run(hook, out, { relation: COS_RELATION.id });
      if (out.exitCode !== 0) throw new Error(`${hook} failed:\n${out.stderr}`);
    }
    related = out;
    const raw = related.relations.find((r) => r.id === COS_RELATION.id)!.localUnitData.config;
    expect(typeof raw).toBe('string');
    config = JSON.parse(raw);
  }, 120000);

  test('publishes the library unit data: valid, with a dashboard Python decodes and rules for this model', () => {
    const raw = JSON.stringify(config);
    expect(providerUnitDataProblems(raw)).toEqual([]);
    const decoded = pythonDecode(raw);
    expect(decoded.dashboards[0].title).toBe('Offline Registry');
    const rules = config.metrics_alert_rules.groups.flatMap((g: any) => g.rules);
    expect(rules.every((r: any) => r.labels.juju_model === 'air-gapped' && r.labels.juju_application === 'offline-registry')).toBe(true);
    expect(config.metrics_scrape_jobs.map((j: any) => j.static_configs[0].targets[0])).toEqual([
      `127.0.0.1:${metricsPort}`,
      `127.0.0.1:${metricsPort + 1}`,
      `127.0.0.1:${metricsPort + 2}`,
    ]);
    expect(related.unitStatus).toEqual({ status: 'active', message: expect.stringMatching(/^Serving 1 images/) });
  });

  test('a scrape of each job after a pull returns registry_http_* series and the charm facts', async () => {
    const { port } = portsOf(related);
    const ca = fs.readFileSync(path.join(sim.rootDir, 'etc/offline-registry/tls/ca.crt'), 'utf8');
    const accept = 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json';
    expect(await httpsGet(`https://127.0.0.1:${port}/v2/library/busybox/manifests/1.36`, ca, { Accept: accept })).toBe(200);

    const [publicJob, writerJob, charmJob] = config.metrics_scrape_jobs.map((j: any) => `http://${j.static_configs[0].targets[0]}${j.metrics_path}`);
    const publicMetrics = await get(publicJob);
    expect(publicMetrics.status).toBe(200);
    expect(sample(publicMetrics.body, 'registry_http_requests_total{code="200",handler="manifest",method="get"}')).toBeGreaterThanOrEqual(1);
    expect(publicMetrics.body).toMatch(/^registry_http_response_size_bytes_sum\{handler="manifest"\} [1-9]/m);
    // The writer restarted with its debug server when the relation came: its series start then.
    const writerMetrics = await get(writerJob);
    expect(writerMetrics.status).toBe(200);
    expect(writerMetrics.body).toMatch(/^registry_http_in_flight_requests\{handler="blob_upload"\} 0$/m);

    const facts = await get(charmJob);
    expect(facts.status).toBe(200);
    expect(sample(facts.body, 'offline_registry_images')).toBe(1);
    expect(sample(facts.body, 'offline_registry_last_load_success')).toBe(1);
    expect(sample(facts.body, 'offline_registry_stored_bytes')).toBeGreaterThan(0);
    const expiry = sample(facts.body, 'offline_registry_certificate_expiry_timestamp_seconds')!;
    expect(expiry * 1000).toBeGreaterThan(Date.now() + 30 * 86400_000);
    expect(sample(facts.body, 'offline_registry_data_filesystem_used_ratio')).toBeGreaterThan(0);
  });

  test('update-status on a converged related unit restarts nothing and republishes the same data', async () => {
    const again = await sim.run('update-status', related);
    expect(again.exitCode).toBe(0);
    expect(again.thisRun.systemctlCalls.filter((c) => c[0] === 'restart')).toEqual([]);
    expect(again.relations.find((r) => r.id === COS_RELATION.id)!.localUnitData.config).toBe(JSON.stringify(config));
    related = again;
  });

  test('stop stops the exporter with the registries; start brings every metrics endpoint back', async () => {
    const stopped = await sim.run('stop', related);
    expect(stopped.thisRun.systemctlCalls).toContainEqual(['systemctl', 'stop', 'offline-registry-metrics.service']);
    await expect(fetch(`http://127.0.0.1:${metricsPort + 2}/metrics`)).rejects.toThrow();
    const started = await sim.run('start', stopped);
    expect(started.unitStatus.status).toBe('active');
    for (const p of [metricsPort, metricsPort + 1, metricsPort + 2]) expect((await get(`http://127.0.0.1:${p}/metrics`)).status).toBe(200);
    related = started;
  }, 60000);

  test('a failed load shows on the next scrape; unrelating stops every metrics listener', async () => {
    const bad = path.join(tmp, 'not-an-archive.tar');
    fs.writeFileSync(bad, 'this is not a tar archive\n'.repeat(100));
    const action = await sim.run({ action: 'load-images', params: { path: bad } }, related);
    expect(action.action?.status).toBe('failed');
    const facts = await get(`http://127.0.0.1:${metricsPort + 2}/metrics`);
    expect(sample(facts.body, 'offline_registry_last_load_success')).toBe(0);
    expect(facts.body).toContain('offline_registry_last_load_timestamp_seconds{source="not-an-archive.tar"}');

    const broken = await sim.run('cos-agent-relation-broken', action, { relation: COS_RELATION.id });
    expect(broken.exitCode).toBe(0);
    expect(broken.unitStatus.status).toBe('active');
    for (const p of [metricsPort, metricsPort + 1, metricsPort + 2]) {
      await expect(fetch(`http://127.0.0.1:${p}/metrics`)).rejects.toThrow();
    }
    expect(fs.existsSync(path.join(sim.rootDir, 'etc/systemd/system/offline-registry-metrics.service'))).toBe(false);
    // The registry still serves.
    const ca = fs.readFileSync(path.join(sim.rootDir, 'etc/offline-registry/tls/ca.crt'), 'utf8');
    expect(await httpsGet(`https://127.0.0.1:${portsOf(related).port}/v2/`, ca)).toBe(200);
  }, 60000);
});

test('metrics-port overlapping port blocks only once cos-agent is related, naming the option', async () => {
  const sim = await unit();
  const base = await loopbackState({ relations: [COS_RELATION] });
  const { port } = portsOf(base);
  const state: State = { ...base, config: { ...base.config, 'metrics-port': Math.max(1, port - 1) } };
  const related = await runAll(sim, DEPLOY, state);
  expect(related.unitStatus).toEqual({ status: 'blocked', message: `invalid metrics-port ${Math.max(1, port - 1)}: its ports ${Math.max(1, port - 1)}-${Math.max(1, port - 1) + 2} include port ${port}` });
  // A valid value while still related returns the unit to active with the metrics served there.
  const good = await freePortRun([port, portsOf(base).writerPort]);
  const fixed = await sim.run('config-changed', { ...related, config: { ...related.config, 'metrics-port': good } });
  expect(fixed.unitStatus).toEqual({ status: 'active', message: expect.stringMatching(/^Serving 0 images/) });
  expect((await get(`http://127.0.0.1:${good}/metrics`)).body).toMatch(/^registry_/m);
  const alone = await sim.run('config-changed', { ...fixed, relations: [], config: state.config });
  expect(alone.unitStatus).toEqual({ status: 'active', message: expect.stringMatching(/^Serving 0 images/) });
}, 90000);
