// Observability (COS) as one entry point: while a cos-agent relation exists, the charm's facts
// exporter runs as a systemd service and the unit databag carries the scrape jobs, alert rules
// and dashboard; without one, neither the exporter nor the registries' debug servers run.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { type CommandRunner, relationIds, relationSet } from '../juju/index.js';
import { readJsonFile, writeFileIfChanged, writeJsonFile } from '../localstate.js';
import type { UnitPaths } from '../registry/paths.js';
import { Systemd } from '../registry/service.js';
import { COS_AGENT, COS_AGENT_KEY, type MetricsTargets, cosAgentUnitData, dashboardJson, scrapeJobs } from './agent.js';
import { alertRules } from './rules.js';
import type { Topology } from './topology.js';

export { COS_AGENT, type MetricsTargets };
export type { Topology };

export const EXPORTER_UNIT = 'offline-registry-metrics.service';

/** The cos-agent relations to publish to: all but `brokenRelationId` (it is going away). */
export async function cosAgentRelationIds(runner: CommandRunner, brokenRelationId?: string): Promise<string[]> {
  return (await relationIds(runner, COS_AGENT)).filter((id) => id !== brokenRelationId);
}

export function renderExporterUnit(opts: { node: string; script: string; scriptHash: string; listen: string; root: string; certFile?: string; sharedStore?: boolean }): string {
  return [
    // A new charm revision's exporter is a new unit file, so upgrade-charm restarts it.
    `# exporter.mjs sha256 ${opts.scriptHash}`,
    '[Unit]',
    "Description=offline-registry metrics exporter (the charm's facts, for COS)",
    'After=network-online.target',
    '',
    '[Service]',
    `ExecStart=${opts.node} ${opts.script} --listen ${opts.listen} --root ${opts.root}${opts.certFile ? ` --cert ${opts.certFile}` : ''}${opts.sharedStore ? ' --shared-store' : ''}`,
    'Restart=on-failure',
    'RestartSec=2',
    // Reads world-readable records only: no capability (not even to read others' files), no writes.
    'CapabilityBoundingSet=',
    'NoNewPrivileges=true',
    'PrivateTmp=true',
    'ProtectSystem=strict',
    'ProtectHome=read-only',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

function scrape(url: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
  });
}

async function waitScrapable(url: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await scrape(url)) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface ObservabilityInput {
  runner: CommandRunner;
  paths: UnitPaths;
  /** The cos-agent relations (empty: not related, so nothing runs and nothing is published). */
  relationIds: string[];
  ports: MetricsTargets;
  topology: Topology;
  charmDir: string;
  /** The public instance's certificate, whose expiry the exporter reports; absent without TLS. */
  certFile?: string;
  /** The blobs are in a store shared by all units (s3): this unit cannot count them. */
  sharedStore?: boolean;
  log?: (message: string) => Promise<void>;
}

/** Converges the exporter and the cos-agent databags; returns notes for the status (an exporter that would not start). */
export async function convergeObservability(input: ObservabilityInput): Promise<string[]> {
  const { runner, paths } = input;
  const systemd = new Systemd(runner);
  const unitFile = path.join(paths.systemdDir, EXPORTER_UNIT);
  if (!input.relationIds.length) {
    await removeExporter(runner, paths);
    return [];
  }

  const notes: string[] = [];
  const listen = `127.0.0.1:${input.ports.charm}`;
  const script = path.join(input.charmDir, 'dist/exporter.mjs');
  const scriptHash = crypto.createHash('sha256').update(fs.readFileSync(script)).digest('hex');
  const unit = renderExporterUnit({ node: process.execPath, script, scriptHash, listen, root: paths.root, certFile: input.certFile, sharedStore: input.sharedStore });
  const url = `http://${listen}/metrics`;
  const changed = writeFileIfChanged(unitFile, unit, 0o644);
  if (changed) {
    await systemd.daemonReload();
    await systemd.enable(EXPORTER_UNIT);
  }
  if (changed || !(await scrape(url))) {
    await systemd.restart(EXPORTER_UNIT);
    if (!(await waitScrapable(url, 10000))) {
      notes.push(`metrics exporter not answering at ${url}: see journalctl -u ${EXPORTER_UNIT}`);
      await input.log?.(`${EXPORTER_UNIT} did not answer at ${url} after a restart`);
    }
  }

  const config = await providerConfig(paths, input.topology, input.ports);
  // relation-set of unchanged values changes nothing on the other side (no relation-changed).
  await Promise.all(input.relationIds.map((id) => relationSet(runner, id, { [COS_AGENT_KEY]: config })));
  return notes;
}

/**
 * The databag's `config` JSON. Compressing the dashboard is the one costly step, so the encoded
 * value is kept and reused for as long as what goes into it stays the same.
 */
async function providerConfig(paths: UnitPaths, topology: Topology, ports: MetricsTargets): Promise<string> {
  const cacheFile = path.join(paths.stateDir, 'cos-agent.json');
  const key = crypto.createHash('sha256').update(JSON.stringify([topology, ports, alertRules(topology), scrapeJobs(ports), dashboardJson(topology.charmName)])).digest('hex');
  const cached = readJsonFile<{ key: string; config: string } | null>(cacheFile, null);
  if (cached?.key === key) return cached.config;
  const config = JSON.stringify(await cosAgentUnitData(topology, ports));
  writeJsonFile(cacheFile, { key, config }, 0o644);
  return config;
}

/** On stop: the exporter stops with the registries (if it was ever set up). */
export async function stopExporter(runner: CommandRunner, paths: UnitPaths): Promise<void> {
  if (!fs.existsSync(path.join(paths.systemdDir, EXPORTER_UNIT))) return;
  await new Systemd(runner).stop(EXPORTER_UNIT).catch(() => undefined);
}

export async function removeExporter(runner: CommandRunner, paths: UnitPaths): Promise<void> {
  if (!fs.existsSync(path.join(paths.systemdDir, EXPORTER_UNIT))) return;
  const systemd = new Systemd(runner);
  await systemd.stop(EXPORTER_UNIT).catch(() => undefined);
  await systemd.disable(EXPORTER_UNIT).catch(() => undefined);
  fs.rmSync(path.join(paths.systemdDir, EXPORTER_UNIT), { force: true });
  await systemd.daemonReload().catch(() => undefined);
}
