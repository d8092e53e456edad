// The provider side of `cos_agent` (charms/grafana_agent/v0/cos_agent.py): the unit databag key
// `config` holds CosAgentProviderUnitData as JSON, which grafana-agent and the
// opentelemetry-collector charm both read. Pure but for the compression.
import { lzmaBase64 } from './lzma.js';
import { registryDashboard } from './dashboard.js';
import { type RuleGroups, alertRules } from './rules.js';
import type { Topology } from './topology.js';

export const COS_AGENT = 'cos-agent';
export const COS_AGENT_KEY = 'config';

export interface ScrapeJob {
  job_name: string;
  metrics_path: string;
  static_configs: Array<{ targets: string[]; labels: Record<string, string> }>;
}

/** CosAgentProviderUnitData, field for field, in the order the library's model declares them. */
export interface CosAgentProviderUnitData {
  metrics_alert_rules: RuleGroups;
  log_alert_rules: Record<string, never>;
  dashboards: string[];
  subordinate: null;
  metrics_scrape_jobs: ScrapeJob[];
  log_slots: string[];
  include_log_files: string[];
  tracing_protocols: null;
}

export interface MetricsTargets {
  public: number;
  writer: number;
  charm: number;
}

/** One job per loopback metrics endpoint; `registry_instance` tells them apart in rules and panels. */
export function scrapeJobs(ports: MetricsTargets): ScrapeJob[] {
  return (Object.entries(ports) as Array<[keyof MetricsTargets, number]>).map(([instance, port]) => ({
    job_name: `offline-registry-${instance}`,
    metrics_path: '/metrics',
    // 127.0.0.1, not localhost: the endpoints listen on IPv4 loopback only.
    static_configs: [{ targets: [`127.0.0.1:${port}`], labels: { registry_instance: instance } }],
  }));
}

/** The dashboard as the library prepares it (uid from charm name and path, the charm tag). */
export function dashboardJson(charmName: string): string {
  return JSON.stringify(registryDashboard(charmName));
}

export async function cosAgentUnitData(topology: Topology, ports: MetricsTargets): Promise<CosAgentProviderUnitData> {
  return {
    metrics_alert_rules: alertRules(topology),
    log_alert_rules: {},
    dashboards: [await lzmaBase64(dashboardJson(topology.charmName))],
    subordinate: null,
    metrics_scrape_jobs: scrapeJobs(ports),
    log_slots: [],
    include_log_files: [],
    tracing_protocols: null,
  };
}
