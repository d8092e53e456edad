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
  async silence(unit: string): Promise<void> {
    // Best effort: the unit may not exist (registry taken from the resource, not the package).
    await this.runner.run('systemctl', ['disable', '--now', unit]).catch(() => undefined);
    await this.runner.run('systemctl', ['mask', unit]).catch(() => undefined);
  }
}
