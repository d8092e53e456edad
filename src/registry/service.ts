// The two registry instances as systemd units. Rendering is pure; converging calls systemctl.
import type { CommandRunner } from '../juju/index.js';
import type { InstanceRole } from './config.js';

export const unitName = (role: InstanceRole) => `offline-registry-${role}.service`;
// The Debian package ships its own unit on :5000 with its own config: it must not compete.
export const PACKAGE_UNIT = 'docker-registry.service';

export function renderUnitFile(opts: { role: InstanceRole; binary: string; configPath: string; user?: string }): string {
  const lines = [
    '[Unit]',
    `Description=offline-registry ${opts.role === 'public' ? 'public read-only' : 'loopback writer'} registry (distribution)`,
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    `ExecStart=${opts.binary} serve ${opts.configPath}`,
    ...(opts.user ? [`User=${opts.user}`, `Group=${opts.user}`] : []),
    // The public instance may listen on a port below 1024 (e.g. 443) as the unprivileged account:
    // that one capability and nothing more. The writer, on a loopback high port, gets none.
    ...(opts.role === 'public' ? ['AmbientCapabilities=CAP_NET_BIND_SERVICE', 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE'] : []),
    'Restart=on-failure',
    'RestartSec=2',
    'NoNewPrivileges=true',
    'PrivateTmp=true',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ];
  return lines.join('\n');
}

export class Systemd {
  constructor(private readonly runner: CommandRunner) {}
  daemonReload = () => this.runner.run('systemctl', ['daemon-reload']);
  enable = (unit: string) => this.runner.run('systemctl', ['enable', unit]);
  restart = (unit: string) => this.runner.run('systemctl', ['restart', unit]);
  stop = (unit: string) => this.runner.run('systemctl', ['stop', unit]);
  disable = (unit: string) => this.runner.run('systemctl', ['disable', unit]);
  /** The unit gave up (failed, or waiting to be restarted after a failure): no use waiting for it. */
  async gaveUp(unit: string): Promise<boolean> {
    const r = await this.runner.run('systemctl', ['show', '--property=ActiveState,SubState', unit]).catch(() => '');
    return /^ActiveState=failed$/m.test(r) || /^SubState=auto-restart$/m.test(r);
  }
  /** Why the unit's process ended, from its own last log lines (systemctl status shows the journal tail). */
  async failureReason(unit: string): Promise<string | null> {
    const r = await this.runner.run('systemctl', ['status', '--no-pager', '--full', '--lines=20', unit]).catch((err: { stdout?: string }) => err.stdout ?? '');
    return failureFromStatus(r);
  }
  async silence(unit: string): Promise<void> {
    // Best effort: the unit may not exist (registry taken from the resource, not the package).
    await this.runner.run('systemctl', ['disable', '--now', unit]).catch(() => undefined);
    await this.runner.run('systemctl', ['mask', unit]).catch(() => undefined);
  }
}

/**
 * The registry's own explanation in `systemctl status` output: the msg of its last fatal/error
 * line (logrus text format, e.g. `level=fatal msg="listen tcp :443: bind: permission denied"`).
 */
export function failureFromStatus(status: string): string | null {
  let reason: string | null = null;
  for (const line of status.split('\n')) {
    if (!/\blevel=(fatal|panic|error)\b/.test(line)) continue;
    const msg = /\bmsg="((?:[^"\\]|\\.)*)"/.exec(line) ?? /\bmsg=(\S+)/.exec(line);
    if (msg) reason = msg[1].replace(/\\(.)/g, '$1');
  }
  return reason;
}
