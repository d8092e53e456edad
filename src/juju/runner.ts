// Every hook tool is a process the unit agent answers; this is the one place that starts them.
import { execa } from 'execa';

export interface CommandRunner {
  /** Runs `tool args...`, feeding `input` on stdin; resolves with stdout. */
  run(tool: string, args: string[], input?: string): Promise<string>;
}

export class CommandError extends Error {
  constructor(
    readonly tool: string,
    readonly exitCode: number | undefined,
    readonly stderr: string,
    /** What the tool printed before failing (e.g. `systemctl status` of a dead unit exits 3). */
    readonly stdout = '',
  ) {
    super(`${tool} failed (exit ${exitCode ?? 'signal'}): ${stderr.trim() || 'no error output'}`);
    this.name = 'CommandError';
  }
}

export const execaRunner: CommandRunner = {
  async run(tool, args, input) {
    // No stdin unless there is input, and no exit-cleanup hooks: these are short-lived tools, and
    // execa's defaults cost milliseconds per call on the hook's critical path.
    const result = await execa(tool, args, {
      ...(input === undefined ? { stdin: 'ignore' as const } : { input }),
      reject: false,
      stripFinalNewline: false,
      cleanup: false,
    });
    if (result.exitCode !== 0 || result.failed) {
      throw new CommandError(tool, result.exitCode, String(result.stderr || result.message || ''), String(result.stdout ?? ''));
    }
    return String(result.stdout);
  },
};

/** Parses a hook tool's `--format=json` output; an empty answer is null. */
export function parseJson<T>(tool: string, stdout: string): T {
  const text = stdout.trim();
  if (text === '') return null as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new CommandError(tool, 0, `unparseable JSON output: ${text.slice(0, 200)}`);
  }
}
