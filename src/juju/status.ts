import type { CommandRunner } from './runner.js';

export type StatusName = 'maintenance' | 'blocked' | 'waiting' | 'active';
export interface Status { name: StatusName; message: string }

export async function statusSet(runner: CommandRunner, status: Status, opts: { application?: boolean } = {}): Promise<void> {
  const args = opts.application ? ['--application'] : [];
  await runner.run('status-set', [...args, status.name, '--', status.message]);
}

export async function applicationVersionSet(runner: CommandRunner, version: string): Promise<void> {
  await runner.run('application-version-set', ['--', version]);
}
