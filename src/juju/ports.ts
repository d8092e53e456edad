import { type CommandRunner, parseJson } from './runner.js';

export async function openPort(runner: CommandRunner, port: number, protocol = 'tcp'): Promise<void> {
  await runner.run('open-port', [`${port}/${protocol}`]);
}

export async function closePort(runner: CommandRunner, port: number, protocol = 'tcp'): Promise<void> {
  await runner.run('close-port', [`${port}/${protocol}`]);
}

export async function openedPorts(runner: CommandRunner): Promise<string[]> {
  return parseJson<string[] | null>('opened-ports', await runner.run('opened-ports', ['--format=json'])) ?? [];
}
