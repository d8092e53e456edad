// Prints (and records for .ci/run) the plain closing line "N passed, N failed[, N skipped]".
const fs = require('node:fs');
const path = require('node:path');

class SummaryReporter {
  onRunComplete(_contexts, results) {
    // A suite that failed to run (syntax error, failing hook) counts as a failure too.
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    let line = `${results.numPassedTests} passed, ${failed} failed`;
    if (results.numPendingTests) line += `, ${results.numPendingTests} skipped`;
    fs.mkdirSync('build', { recursive: true });
    fs.writeFileSync(path.join('build', 'test-summary.txt'), `${line}\n`);
    process.stdout.write(`\n${line}\n`);
  }
}
module.exports = SummaryReporter;
