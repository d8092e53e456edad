import { type CommandRunner, parseJson } from './runner.js';

export async function isLeader(runner: CommandRunner): Promise<boolean> {
  return parseJson<boolean>('is-leader', await runner.run('is-leader', ['--format=json'])) === true;
}
