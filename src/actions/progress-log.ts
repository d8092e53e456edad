// Progress lines of a long action, batched: every hook-tool call is a round trip to the unit
// agent, so one action-log per image would cost more than a reload of an unchanged archive.

export interface BatchedLog {
  /** Queues a line; sends the batch once `everyMs` passed since the last send or `everyLines` are queued. */
  line(text: string): void;
  /** Sends whatever is queued and waits for every send so far. */
  flush(): Promise<void>;
}

export function batchedLog(send: (message: string) => Promise<void>, opts: { everyMs?: number; everyLines?: number; now?: () => number } = {}): BatchedLog {
  const everyMs = opts.everyMs ?? 2000;
  const everyLines = opts.everyLines ?? 50;
  const now = opts.now ?? Date.now;
  let queued: string[] = [];
  let lastSent = now();
  let chain: Promise<void> = Promise.resolve();
  const sendQueued = () => {
    if (!queued.length) return;
    const message = queued.join('\n');
    queued = [];
    lastSent = now();
    // One at a time, in order; a failed progress line never fails the load.
    chain = chain.then(() => send(message)).catch(() => undefined);
  };
  return {
    line(text) {
      queued.push(text);
      if (queued.length >= everyLines || now() - lastSent >= everyMs) sendQueued();
    },
    async flush() {
      sendQueued();
      await chain;
    },
  };
}
