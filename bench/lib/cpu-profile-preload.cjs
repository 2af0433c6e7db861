/**
 * Bench-only: a V8 CPU profile of a built app, for runs such as the ingress throughput probe
 * (`WATCHER_NODE_OPTIONS="--require bench/lib/cpu-profile-preload.cjs" npx tsx
 * bench/scenarios/notify-ingress.ts throughput`). `--cpu-prof` would do the same, but Node refuses
 * it in NODE_OPTIONS, which is the only way into a process AppProcess starts. Profiling starts when
 * the app loads and the profile is written to BENCH_CPU_PROFILE_DIR (default: the working
 * directory) as `<pid>.cpuprofile` when the app gets SIGTERM or SIGINT, which AppProcess.stop
 * sends; open it in Chrome's DevTools. The 200 µs sampling interval costs the app about a third of
 * its throughput: compare profiles with each other, not their throughput with a run without.
 */
'use strict';
const inspector = require('node:inspector');
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');

const session = new inspector.Session();
session.connect();
session.post('Profiler.enable', () => session.post('Profiler.setSamplingInterval', { interval: 200 }, () => session.post('Profiler.start')));

let stopping = false;
function writeAndExit() {
  if (stopping) return;
  stopping = true;
  session.post('Profiler.stop', (err, result) => {
    if (!err) writeFileSync(join(process.env.BENCH_CPU_PROFILE_DIR || process.cwd(), `${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    process.exit(0);
  });
}
process.once('SIGTERM', writeAndExit);
process.once('SIGINT', writeAndExit);
