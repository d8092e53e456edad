// The cos-agent databag as the library's requirer reads it: schema, dashboards decoded by Python's
// lzma, alert rules carrying the Juju topology; the charm's facts in the exposition format.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cosAgentUnitData, scrapeJobs } from '../../src/cos/agent.js';
import { type Facts, renderFacts } from '../../src/cos/facts.js';
import { renderExporterUnit } from '../../src/cos/index.js';
import { alertRules } from '../../src/cos/rules.js';
import { unitPaths } from '../../src/registry/paths.js';
import { freePort } from '../support/ports.js';
import { providerUnitDataProblems, pythonDecode } from './schema.js';

const topology = { model: 'air-gapped', modelUuid: 'd2f6c5f0-5b0e-4c1e-8a35-3f1e6d1b2a90', application: 'offline-registry', unit: 'offline-registry/0', charmName: 'offline-registry' };
const ports = { public: 5002, writer: 5003, charm: 5004 };

test('the unit data is valid CosAgentProviderUnitData and its dashboard decodes with Python lzma', async () => {
  const raw = JSON.stringify(await cosAgentUnitData(topology, ports));
  expect(providerUnitDataProblems(raw)).toEqual([]);
  const decoded = pythonDecode(raw);
  if (!decoded.validated_by_pydantic) console.warn('python3 has no pydantic: the unit data was checked by the TypeScript port of the model only');
  expect(decoded.dashboards).toHaveLength(1);
  const [dashboard] = decoded.dashboards;
  expect(dashboard.uid).toBe(decoded.expected_uid); // DashboardPath40UID, as the library sets it
  expect(dashboard.tags).toEqual(['charm: offline-registry']);
  const exprs: string[] = dashboard.panels.flatMap((p: any) => p.targets.map((t: any) => t.expr));
  for (const metric of ['offline_registry_images', 'registry_http_response_size_bytes_sum', 'registry_http_requests_total', 'registry_http_request_duration_seconds_bucket', 'offline_registry_stored_bytes']) {
    expect(exprs.some((e) => e.includes(metric))).toBe(true);
  }
});

test('the schema port refuses what the library refuses', () => {
  expect(providerUnitDataProblems('{"metrics_alert_rules": {}, "log_alert_rules": {}, "dashboards": [1], "metrics_scrape_jobs": [], "log_slots": []}')).toEqual([expect.stringMatching(/^dashboards/)]);
  expect(providerUnitDataProblems('{"metrics_alert_rules": {}}')).toHaveLength(4);
});

test('scrape jobs name each loopback endpoint; rules carry the topology labels and matchers', () => {
  expect(scrapeJobs(ports).map((j) => j.static_configs[0])).toEqual([
    { targets: ['127.0.0.1:5002'], labels: { registry_instance: 'public' } },
    { targets: ['127.0.0.1:5003'], labels: { registry_instance: 'writer' } },
    { targets: ['127.0.0.1:5004'], labels: { registry_instance: 'charm' } },
  ]);
  const rules = alertRules(topology);
  expect(rules.groups.map((g) => g.name)).toEqual(['air_gapped_d2f6c5f0_offline_registry_HostHealth_alerts', 'air_gapped_d2f6c5f0_offline_registry_offline_registry_alerts']);
  const all = rules.groups.flatMap((g) => g.rules);
  expect(all.map((r) => r.alert)).toEqual(expect.arrayContaining(['OfflineRegistryDown', 'OfflineRegistryHighErrorRate', 'OfflineRegistryDataFilesystemFull', 'OfflineRegistryLoadFailed']));
  const matchers = 'juju_model="air-gapped",juju_model_uuid="d2f6c5f0-5b0e-4c1e-8a35-3f1e6d1b2a90",juju_application="offline-registry"';
  for (const rule of all) {
    expect(rule.labels).toMatchObject({ juju_model: 'air-gapped', juju_model_uuid: topology.modelUuid, juju_application: 'offline-registry', juju_charm: 'offline-registry' });
    expect(rule.expr).toContain(matchers);
    expect(rule.expr).not.toMatch(/\{T\}|,T\}/);
  }
  expect(all.find((r) => r.alert === 'OfflineRegistryDataFilesystemFull')!.expr).toBe(`offline_registry_data_filesystem_used_ratio{${matchers}} > 0.9`);
});

test('facts render in the exposition format; absent facts are absent series', () => {
  const facts: Facts = { images: 3, storedBytes: 2048, blobs: 5, lastLoad: { at: 1700000000, ok: false, source: '/x/images "a".tar', pushed: 1, failed: 2, bytesPushed: 10 }, certificateExpiry: null, filesystem: { size: 1000, avail: 50 } };
  const text = renderFacts(facts);
  expect(text).toContain('offline_registry_images 3\n');
  expect(text).toContain('offline_registry_last_load_success 0\n');
  expect(text).toContain('offline_registry_last_load_timestamp_seconds{source="images \\"a\\".tar"} 1700000000\n');
  expect(text).toContain('offline_registry_data_filesystem_used_ratio 0.95\n');
  expect(text).not.toContain('certificate_expiry');
  expect(renderFacts({ ...facts, lastLoad: null })).not.toContain('last_load');
});

test('on a shared store (s3) the exporter serves no stored-bytes or blob series rather than a false 0', async () => {
  expect(renderFacts({ images: 2, storedBytes: null, blobs: null, lastLoad: null, certificateExpiry: null, filesystem: null })).toBe(
    '# HELP offline_registry_images Image tags the registry serves.\n# TYPE offline_registry_images gauge\noffline_registry_images 2\n',
  );
  // The built exporter, as its systemd unit runs it, over a unit root that counted 0 local bytes.
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'exporter-'));
  const paths = unitPaths(root);
  fs.mkdirSync(paths.stateDir, { recursive: true });
  fs.writeFileSync(path.join(paths.stateDir, 'catalog.json'), JSON.stringify({ 'library/busybox:1.36': { host: 'docker.io', digest: 'sha256:ab' } }));
  fs.writeFileSync(path.join(paths.stateDir, 'usage.json'), JSON.stringify({ blobs: 0, bytes: 0 }));
  expect(renderExporterUnit({ node: 'node', script: 'e.mjs', scriptHash: 'x', listen: '127.0.0.1:1', root, sharedStore: true })).toContain(`--root ${root} --shared-store\n`);
  const port = await freePort();
  const child = spawn(process.execPath, [path.resolve('build/charm/dist/exporter.mjs'), '--listen', `127.0.0.1:${port}`, '--root', root, '--shared-store'], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    await new Promise<void>((resolve, reject) => {
      let err = '';
      child.stderr!.on('data', (d: Buffer) => {
        err += d;
        if (err.includes('listening on')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`exporter exited ${code}: ${err}`)));
    });
    const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(body).toContain('offline_registry_images 1\n');
    expect(body).not.toContain('offline_registry_stored_bytes');
    expect(body).not.toContain('offline_registry_blobs');
  } finally {
    child.kill();
    fs.rmSync(root, { recursive: true, force: true });
  }
});
