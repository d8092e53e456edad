import { type CommandRunner, CommandError } from './runner.js';

/**
 * The local path of a file resource, or null when the operator never supplied it
 * (resource-get exits 1 with "could not download resource: ... not found").
 */
export async function resourceGet(runner: CommandRunner, name: string): Promise<string | null> {
  try {
    const path = (await runner.run('resource-get', [name])).trim();
    return path === '' ? null : path;
  } catch (err) {
    if (err instanceof CommandError && /not found|could not download/i.test(err.stderr)) return null;
    throw err;
  }
}
