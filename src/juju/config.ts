import { type CommandRunner, parseJson } from './runner.js';

export type ConfigValue = string | number | boolean;

/** `config-get --format=json`: every option, defaults included. */
export async function configGet(runner: CommandRunner): Promise<Record<string, ConfigValue>> {
  return (parseJson<Record<string, ConfigValue> | null>('config-get', await runner.run('config-get', ['--format=json'])) ?? {});
}
