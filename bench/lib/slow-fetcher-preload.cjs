/**
 * Bench-only: makes the fetcher slower on purpose, to show that `npm run bench -- --strict`
 * fails on a regression (`--slow-fetcher-ms N`). Loaded into the fetcher with
 * `NODE_OPTIONS=--require <this file>` by the bench, never by a deployment: the app has no knob
 * for it. Node runs `--require` in the main thread and in every worker thread, so it reaches the
 * parser threads too. Each top-level postal-mime parse first spins for N ms on its thread: a
 * parser regression that costs N ms of CPU per message (not a timer, which other messages would
 * overlap).
 */
'use strict';
const ms = Number(process.env.BENCH_SLOW_FETCHER_MS);
if (ms > 0) {
  const { isMainThread } = require('node:worker_threads');
  const mod = require('postal-mime');
  const PostalMime = mod.default ?? mod;
  const parse = PostalMime.parse;
  PostalMime.parse = function slowedParse(...args) {
    const until = performance.now() + ms;
    while (performance.now() < until);
    return parse.apply(this, args);
  };
  process.stderr.write(`bench: fetcher ${isMainThread ? 'main thread' : 'parser thread'} slowed by ${ms} ms of CPU per parse (BENCH_SLOW_FETCHER_MS)\n`);
}
