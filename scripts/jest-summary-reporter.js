// Prints one plain closing line ("integration: 12 passed, 0 failed, 0 skipped") that CI reads to
// know tests really ran, whatever Jest's own summary looks like.
class SummaryReporter {
  constructor() {
    const i = process.argv.indexOf('--selectProjects');
    this.label = i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : 'jest';
  }
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    process.stderr.write(`${this.label}: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${skipped} skipped\n`);
  }
}
module.exports = SummaryReporter;
