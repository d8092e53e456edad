// Prometheus alert rules for the cos-agent relation, in the official rule-file format with the
// Juju topology labels and matchers cos-lib's AlertRules would add. Pure.
import { type Topology, expressionMatchers, ruleLabels, topologyIdentifier } from './topology.js';

export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: { summary: string; description: string };
}

export interface RuleGroups {
  groups: Array<{ name: string; rules: AlertRule[] }>;
}

const sanitize = (name: string) => name.replace(/[^a-zA-Z0-9_:]/g, '_');

/** The rules; `{T}` in an expression stands for the topology matchers (inside a selector's braces). */
const RULES: Array<Omit<AlertRule, 'labels'> & { severity: string; group: 'HostHealth' | 'offline_registry' }> = [
  // cos_agent.py adds cos-lib's generic application rules to every provider's rules: kept as it does.
  {
    group: 'HostHealth',
    alert: 'HostDown',
    expr: 'up{T} < 1',
    for: '5m',
    severity: 'critical',
    annotations: {
      summary: "Host '{{ $labels.instance }}' is down.",
      description: "Juju application '{{ $labels.juju_application }}' in model '{{ $labels.juju_model }}' is down. Prometheus has been unable to scrape it during at least the past five minutes.",
    },
  },
  {
    group: 'HostHealth',
    alert: 'HostMetricsMissing',
    expr: 'absent(up{T})',
    for: '5m',
    severity: 'warning',
    annotations: {
      summary: "Unit '{{ $labels.juju_unit }}' of application '{{ $labels.juju_application }}' is down or failing to remote write.",
      description: "`Up` missing for unit '{{ $labels.juju_unit }}' of application {{ $labels.juju_application }} in model {{ $labels.juju_model }}. Please ensure the unit or the collector scraping it is up and is able to successfully reach the metrics backend.",
    },
  },
  {
    group: 'offline_registry',
    alert: 'OfflineRegistryDown',
    expr: 'up{registry_instance="public",T} < 1',
    for: '2m',
    severity: 'critical',
    annotations: {
      summary: "The public registry of {{ $labels.juju_unit }} is down.",
      description: "Its metrics endpoint has not answered for 2 minutes: containerd on the cluster cannot pull from it. See journalctl -u offline-registry-public.service on the unit.",
    },
  },
  {
    group: 'offline_registry',
    alert: 'OfflineRegistryHighErrorRate',
    expr: 'sum by (juju_unit) (rate(registry_http_requests_total{registry_instance="public",code=~"5..",T}[5m])) / sum by (juju_unit) (rate(registry_http_requests_total{registry_instance="public",T}[5m])) > 0.05',
    for: '10m',
    severity: 'warning',
    annotations: {
      summary: '{{ $labels.juju_unit }} answers {{ $value | humanizePercentage }} of requests with a 5xx.',
      description: 'More than 5% of the public registry\'s requests failed with a server error for 10 minutes (a full or failing disk is the usual cause).',
    },
  },
  {
    group: 'offline_registry',
    alert: 'OfflineRegistryDataFilesystemFull',
    expr: 'offline_registry_data_filesystem_used_ratio{T} > 0.9',
    for: '5m',
    severity: 'warning',
    annotations: {
      summary: 'The registry data filesystem of {{ $labels.juju_unit }} is {{ $value | humanizePercentage }} full.',
      description: 'Free space (remove-images, then garbage-collect) or attach larger registry-data storage before the next load fails.',
    },
  },
  {
    group: 'offline_registry',
    alert: 'OfflineRegistryLoadFailed',
    expr: 'offline_registry_last_load_success{T} == 0',
    for: '0m',
    severity: 'warning',
    annotations: {
      summary: 'The last image load on {{ $labels.juju_unit }} ({{ $labels.source }}) failed.',
      description: 'Some images did not load; the others are served. Run the load-images action on the unit for details.',
    },
  },
  {
    group: 'offline_registry',
    alert: 'OfflineRegistryCertificateExpiresSoon',
    expr: 'offline_registry_certificate_expiry_timestamp_seconds{T} - time() < 14 * 86400',
    for: '1h',
    severity: 'warning',
    annotations: {
      summary: 'The registry certificate of {{ $labels.juju_unit }} expires within 14 days.',
      description: 'The charm renews its own certificates 30 days ahead: one that got this close is operator-supplied (tls-cert) or renewal failed.',
    },
  },
];

export function alertRules(topology: Topology): RuleGroups {
  const identifier = topologyIdentifier(topology);
  const labels = ruleLabels(topology);
  const matchers = expressionMatchers(topology);
  const groups = new Map<string, AlertRule[]>();
  for (const { group, severity, expr, ...rule } of RULES) {
    const name = sanitize(`${identifier}_${group}_alerts`);
    const withTopology = expr.replace(/\{T\}/g, `{${matchers}}`).replace(/,T\}/g, `,${matchers}}`);
    groups.set(name, [...(groups.get(name) ?? []), { ...rule, expr: withTopology, labels: { severity, ...labels } }]);
  }
  return { groups: [...groups].map(([name, rules]) => ({ name, rules })) };
}
