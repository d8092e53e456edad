import type { CommandRunner } from './runner.js';

export type LogLevel = 'TRACE' | 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';

export async function jujuLog(runner: CommandRunner, level: LogLevel, message: string): Promise<void> {
  await runner.run('juju-log', ['-l', level, '--', message]);
}
