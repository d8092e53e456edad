import { batchedLog } from '../../src/actions/progress-log.js';

describe('batchedLog', () => {
  test('sends one message per N lines or per interval, in order, and the rest on flush', async () => {
    let clock = 0;
    const sent: string[] = [];
    const log = batchedLog(async (m) => void sent.push(m), { everyMs: 2000, everyLines: 3, now: () => clock });
    for (const l of ['a', 'b', 'c', 'd']) log.line(l);
    await Promise.resolve();
    clock = 2500; // the interval passed: the next line sends what is queued with it
    log.line('e');
    log.line('f');
    await log.flush();
    expect(sent).toEqual(['a\nb\nc', 'd\ne', 'f']);
    await log.flush();
    expect(sent).toHaveLength(3);
  });

  test('a failing send never fails the caller, and later lines still go out', async () => {
    const sent: string[] = [];
    let calls = 0;
    const log = batchedLog(async (m) => {
      if (calls++ === 0) throw new Error('agent gone');
      sent.push(m);
    }, { everyLines: 1 });
    log.line('lost');
    log.line('kept');
    await expect(log.flush()).resolves.toBeUndefined();
    expect(sent).toEqual(['kept']);
  });
});
