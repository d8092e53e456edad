// The alert rules the cos-agent relation carries, checked and evaluated by Prometheus' own promtool
// (Debian's prometheus package): the rule file parses, each expression is valid PromQL, and each
// alert fires on the series a failing unit would have, carrying the labels and annotations
// Alertmanager will show, and stays silent on a healthy unit.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { type AlertRule, alertRules } from '../../src/cos/rules.js';

const topology = { model: 'air-gapped', modelUuid: 'd2f6c5f0-5b0e-4c1e-8a35-3f1e6d1b2a90', application: 'offline-registry', unit: 'offline-registry/0', charmName: 'offline-registry' };
const unitLabels = { juju_model: topology.model, juju_model_uuid: topology.modelUuid, juju_application: topology.application, juju_unit: topology.unit };
const rules = alertRules(topology);
const byName = new Map<string, AlertRule>(rules.groups.flatMap((g) => g.rules).map((r) => [r.alert, r]));

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promtool-'));
  fs.writeFileSync(path.join(dir, 'rules.yml'), YAML.stringify(rules));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function promtool(args: string[]): { code: number | null; output: string } {
  const r = spawnSync('promtool', args, { cwd: dir, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool could not run (${r.error.message}): install Debian's prometheus package, as .ci/run does`);
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

const selector = (labels: Record<string, string>) => `{${Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;

/** The annotations Prometheus renders for `rule` with these labels and value (the templates we use). */
function rendered(rule: AlertRule, labels: Record<string, string>, value: number): Record<string, string> {
  const render = (text: string) =>
    text.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, k: string) => labels[k] ?? '').replace(/\{\{ \$value \| humanizePercentage \}\}/g, `${Math.round(value * 100)}%`);
  return { summary: render(rule.annotations.summary), description: render(rule.annotations.description) };
}

interface Case {
  alert: string;
  series: Array<{ metric: string; labels?: Record<string, string>; values: string }>;
  at: string;
  /** Labels of the firing alert beyond the rule's own (what the expression keeps). */
  alertLabels: Record<string, string>;
  value: number;
}

const publicJob = { ...unitLabels, registry_instance: 'public' };
const charmJob = { ...unitLabels, registry_instance: 'charm' };
const FAILING: Case[] = [
  { alert: 'OfflineRegistryDown', series: [{ metric: 'up', labels: publicJob, values: '0x10' }], at: '5m', alertLabels: publicJob, value: 0 },
  {
    alert: 'OfflineRegistryHighErrorRate',
    // Half of the requests fail with a 500 for 20 minutes.
    series: [
      { metric: 'registry_http_requests_total', labels: { ...publicJob, code: '200', handler: 'blob', method: 'get' }, values: '0+60x20' },
      { metric: 'registry_http_requests_total', labels: { ...publicJob, code: '500', handler: 'blob', method: 'get' }, values: '0+60x20' },
    ],
    at: '20m',
    alertLabels: { juju_unit: topology.unit },
    value: 0.5,
  },
  { alert: 'OfflineRegistryDataFilesystemFull', series: [{ metric: 'offline_registry_data_filesystem_used_ratio', labels: charmJob, values: '0.95x10' }], at: '10m', alertLabels: charmJob, value: 0.95 },
  {
    alert: 'OfflineRegistryLoadFailed',
    series: [{ metric: 'offline_registry_last_load_success', labels: { ...charmJob, source: 'images.tar' }, values: '0x3' }],
    at: '1m',
    alertLabels: { ...charmJob, source: 'images.tar' },
    value: 0,
  },
  {
    alert: 'OfflineRegistryCertificateExpiresSoon',
    // Expires 3 days after the evaluation's time 0 (promtool starts at the Unix epoch).
    series: [{ metric: 'offline_registry_certificate_expiry_timestamp_seconds', labels: charmJob, values: `${3 * 86400}x120` }],
    at: '2h',
    alertLabels: charmJob,
    value: 3 * 86400 - 7200,
  },
];

test('promtool checks the rule file: it parses and every expression is valid PromQL', () => {
  const r = promtool(['check', 'rules', 'rules.yml']);
  expect(r.output).toContain(`SUCCESS: ${byName.size} rules found`);
  expect(r.code).toBe(0);
});

test('each alert fires on a failing unit with its labels and annotations, and none fires on a healthy one', () => {
  const tests = FAILING.map((c) => {
    const rule = byName.get(c.alert)!;
    const labels = { ...c.alertLabels, ...rule.labels };
    return {
      interval: '1m',
      input_series: c.series.map((s) => ({ series: `${s.metric}${selector(s.labels ?? {})}`, values: s.values })),
      alert_rule_test: [{ eval_time: c.at, alertname: c.alert, exp_alerts: [{ exp_labels: labels, exp_annotations: rendered(rule, labels, c.value) }] }],
    };
  });
  // A healthy unit: up, no errors, room on disk, the last load fine, the certificate a year away.
  const healthy = {
    interval: '1m',
    input_series: [
      { series: `up${selector(publicJob)}`, values: '1x20' },
      { series: `up${selector(charmJob)}`, values: '1x20' },
      { series: `registry_http_requests_total${selector({ ...publicJob, code: '200', handler: 'blob', method: 'get' })}`, values: '0+60x20' },
      { series: `offline_registry_data_filesystem_used_ratio${selector(charmJob)}`, values: '0.4x20' },
      { series: `offline_registry_last_load_success${selector({ ...charmJob, source: 'images.tar' })}`, values: '1x20' },
      { series: `offline_registry_certificate_expiry_timestamp_seconds${selector(charmJob)}`, values: `${365 * 86400}x20` },
    ],
    alert_rule_test: [...byName.keys()].map((alertname) => ({ eval_time: '20m', alertname, exp_alerts: [] })),
  };
  // Another application's failing series are not ours: the topology matchers keep them out.
  const other = { ...publicJob, juju_application: 'other-registry' };
  const foreign = {
    interval: '1m',
    input_series: [
      { series: `up${selector(publicJob)}`, values: '1x10' },
      { series: `up${selector(other)}`, values: '0x10' },
    ],
    alert_rule_test: [{ eval_time: '5m', alertname: 'OfflineRegistryDown', exp_alerts: [] }],
  };
  fs.writeFileSync(path.join(dir, 'tests.yml'), YAML.stringify({ rule_files: ['rules.yml'], evaluation_interval: '1m', tests: [...tests, healthy, foreign] }));
  const r = promtool(['test', 'rules', 'tests.yml']);
  expect(r.output).toContain('SUCCESS');
  expect(r.code).toBe(0);
});
