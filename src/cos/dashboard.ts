// The Grafana dashboard sent over cos-agent: images and bytes served, pull rate and latency,
// storage, the last load and the certificate. `${prometheusds}` is the datasource variable the
// COS Grafana charm fills in; it adds the Juju topology filters itself.
import crypto from 'node:crypto';

const DS = { type: 'prometheus', uid: '${prometheusds}' };
const PUBLIC = 'registry_instance="public"';
// What clients pull: manifests and blobs fetched from the public instance.
const PULLS = `registry_http_requests_total{${PUBLIC},handler=~"manifest|blob",method=~"get|GET"}`;

interface Panel { title: string; type: 'stat' | 'timeseries'; unit: string; exprs: Array<[string, string]>; w: number; h: number }

const PANELS: Panel[] = [
  { title: 'Images served', type: 'stat', unit: 'short', exprs: [['offline_registry_images', '{{juju_unit}}']], w: 4, h: 5 },
  { title: 'Stored', type: 'stat', unit: 'bytes', exprs: [['offline_registry_stored_bytes', '{{juju_unit}}']], w: 4, h: 5 },
  { title: 'Data filesystem used', type: 'stat', unit: 'percentunit', exprs: [['offline_registry_data_filesystem_used_ratio', '{{juju_unit}}']], w: 4, h: 5 },
  { title: 'Last load succeeded', type: 'stat', unit: 'bool_yes_no', exprs: [['offline_registry_last_load_success', '{{juju_unit}} {{source}}']], w: 4, h: 5 },
  { title: 'Last load', type: 'stat', unit: 'dateTimeFromNow', exprs: [['offline_registry_last_load_timestamp_seconds * 1000', '{{juju_unit}}']], w: 4, h: 5 },
  { title: 'Certificate expires', type: 'stat', unit: 'dateTimeFromNow', exprs: [['offline_registry_certificate_expiry_timestamp_seconds * 1000', '{{juju_unit}}']], w: 4, h: 5 },
  { title: 'Pulls (manifests and blobs per second)', type: 'timeseries', unit: 'reqps', exprs: [[`sum by (juju_unit, handler) (rate(${PULLS}[5m]))`, '{{juju_unit}} {{handler}}']], w: 12, h: 8 },
  { title: 'Bytes served', type: 'timeseries', unit: 'Bps', exprs: [[`sum by (juju_unit) (rate(registry_http_response_size_bytes_sum{${PUBLIC}}[5m]))`, '{{juju_unit}}']], w: 12, h: 8 },
  {
    title: 'Pull latency',
    type: 'timeseries',
    unit: 's',
    exprs: [
      [`histogram_quantile(0.5, sum by (le, juju_unit) (rate(registry_http_request_duration_seconds_bucket{${PUBLIC},handler=~"manifest|blob"}[5m])))`, 'p50 {{juju_unit}}'],
      [`histogram_quantile(0.95, sum by (le, juju_unit) (rate(registry_http_request_duration_seconds_bucket{${PUBLIC},handler=~"manifest|blob"}[5m])))`, 'p95 {{juju_unit}}'],
    ],
    w: 12,
    h: 8,
  },
  { title: 'Responses by code', type: 'timeseries', unit: 'reqps', exprs: [[`sum by (juju_unit, code) (rate(registry_http_requests_total{${PUBLIC}}[5m]))`, '{{juju_unit}} {{code}}']], w: 12, h: 8 },
  { title: 'Storage', type: 'timeseries', unit: 'bytes', exprs: [['offline_registry_stored_bytes', 'stored {{juju_unit}}'], ['offline_registry_data_filesystem_avail_bytes', 'free {{juju_unit}}']], w: 12, h: 8 },
  { title: 'Storage driver time', type: 'timeseries', unit: 's', exprs: [['sum by (juju_unit, action) (rate(registry_storage_action_seconds_sum[5m]))', '{{juju_unit}} {{action}}']], w: 12, h: 8 },
];

/** cos-lib's DashboardPath40UID: shake_256 of `<charm>-<path>`, 20 bytes as hex. */
export function dashboardUid(charmName: string, dashboardPath: string): string {
  return crypto.createHash('shake256', { outputLength: 20 }).update(`${charmName}-${dashboardPath}`).digest('hex');
}

export const DASHBOARD_PATH = 'src/grafana_dashboards/offline-registry.json';

export function registryDashboard(charmName: string): Record<string, unknown> {
  let x = 0;
  let y = 0;
  const panels = PANELS.map((p, i) => {
    if (x + p.w > 24) {
      x = 0;
      y += p.h;
    }
    const gridPos = { x, y, w: p.w, h: p.h };
    x += p.w;
    return {
      id: i + 1,
      title: p.title,
      type: p.type,
      datasource: DS,
      gridPos,
      fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
      targets: p.exprs.map(([expr, legendFormat], j) => ({ refId: String.fromCharCode(65 + j), datasource: DS, expr, legendFormat })),
    };
  });
  return {
    uid: dashboardUid(charmName, DASHBOARD_PATH),
    title: 'Offline Registry',
    tags: [`charm: ${charmName}`],
    schemaVersion: 39,
    time: { from: 'now-6h', to: 'now' },
    refresh: '1m',
    templating: { list: [{ name: 'prometheusds', label: 'Prometheus', type: 'datasource', query: 'prometheus' }] },
    panels,
  };
}
