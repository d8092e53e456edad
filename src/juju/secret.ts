// Secret content goes through a private temp file (as ops does), never argv: argv is visible in ps.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type CommandRunner, parseJson } from './runner.js';

export type SecretContent = Record<string, string>;

async function withContentFile<T>(content: SecretContent, fn: (file: string) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'secret-'));
  const file = path.join(dir, 'content.json');
  try {
    fs.writeFileSync(file, JSON.stringify(content), { mode: 0o600 });
    return await fn(file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function secretAdd(runner: CommandRunner, content: SecretContent, opts: { label?: string; owner?: 'application' | 'unit'; description?: string } = {}): Promise<string> {
  const args = ['--owner', opts.owner ?? 'application'];
  if (opts.label) args.push('--label', opts.label);
  if (opts.description) args.push('--description', opts.description);
  return withContentFile(content, async (file) => (await runner.run('secret-add', [...args, '--file', file])).trim());
}

export async function secretGet(runner: CommandRunner, ref: { id?: string; label?: string }, opts: { refresh?: boolean } = {}): Promise<SecretContent> {
  const args = ['--format=json'];
  if (ref.id) args.push(ref.id);
  if (ref.label) args.push('--label', ref.label);
  if (opts.refresh) args.push('--refresh');
  return parseJson<SecretContent | null>('secret-get', await runner.run('secret-get', args)) ?? {};
}

export async function secretSet(runner: CommandRunner, id: string, content: SecretContent): Promise<void> {
  await withContentFile(content, (file) => runner.run('secret-set', [id, '--file', file]));
}
