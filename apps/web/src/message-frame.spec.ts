import { describe, expect, it } from '@jest/globals';
import { dropUnloadableUrls, frameMessageText } from './message-frame';

describe('dropUnloadableUrls', () => {
  it('keeps web and data:image addresses and replaces the rest with none', () => {
    expect(dropUnloadableUrls('a:url(https://x.test/a.png);b:url( "http://x.test/b" );c:url(data:image/png;base64,AA)')).toBe(
      'a:url(https://x.test/a.png);b:url( "http://x.test/b" );c:url(data:image/png;base64,AA)',
    );
    expect(dropUnloadableUrls('a:url(blocked:x);b:URL(\'javascript:x\') no-repeat;c:url(data:text/html,x)')).toBe('a:none;b:none no-repeat;c:none');
  });

  it('reads a quoted address with a ) inside as one url()', () => {
    expect(dropUnloadableUrls('a:url("blocked:x)y") red')).toBe('a:none red');
  });

  it('leaves url( inside strings and comments alone', () => {
    expect(dropUnloadableUrls('a[title="url(x)"]{}/* url(y) */')).toBe('a[title="url(x)"]{}/* url(y) */');
  });

  it('runs an unclosed url( to the end, as a browser does', () => {
    expect(dropUnloadableUrls('color:red;background:url(blocked:x')).toBe('color:red;background:none');
  });
});

/** This process's CPU time for fn, in ms (wall time on a shared machine mostly measures the others). */
function cpuMs(fn: () => unknown): number {
  const proc = (globalThis as { process?: { cpuUsage(previous?: { user: number; system: number }): { user: number; system: number } } }).process;
  if (!proc) throw new Error('runs under node');
  const start = proc.cpuUsage();
  fn();
  const used = proc.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

/** Min over repetitions at n and 2n, interleaved; linear code gives about 2, quadratic about 4. */
function growth(run: (input: string) => unknown, make: (n: number) => string, base: number): number {
  const small = make(base);
  const large = make(base * 2);
  // Fast cases run several times per measurement, so that no measurement is below timer noise.
  let loops = 1;
  while (loops < 4096 && cpuMs(() => repeat(run, small, loops)) < 5) loops *= 2;
  let smallMs = Infinity;
  let largeMs = Infinity;
  for (let r = 0; r < 7; r++) {
    smallMs = Math.min(smallMs, cpuMs(() => repeat(run, small, loops)));
    largeMs = Math.min(largeMs, cpuMs(() => repeat(run, large, loops)));
  }
  return largeMs / smallMs;
}

function repeat(run: (input: string) => unknown, input: string, times: number): void {
  for (let i = 0; i < times; i++) run(input);
}

describe('the message frame is linear in its input (issue 14: 100 KB froze the tab)', () => {
  // Sizes of megabytes: both runs of a pair must lie beyond the core's cache, or a one-pass scan of
  // 0.5 MB against 1 MB reads as ×2.7 (seen on a quiet machine: L2 is 512 KB here).
  it.each([
    ['url( without ) after a kept address', 400_000, (n: number) => 'url(https://x'.repeat(n)],
    ['url( without ) after a dropped address', 400_000, (n: number) => 'url(x'.repeat(n)],
    ['url(" with unterminated strings', 400_000, (n: number) => 'url("x '.repeat(n)],
    ['quoted url( without )', 400_000, (n: number) => 'url("x")'.repeat(n)],
    ['unclosed comments', 1_000_000, (n: number) => '/*/'.repeat(n)],
    ['long run of \\', 2_000_000, (n: number) => `"${'\\'.repeat(n)}`],
  ])('css: %s', (_name, base, make) => {
    let ratio = growth(dropUnloadableUrls, make, base);
    // A GC or a preempted core can inflate one large run; a quadratic scan is ~4x on every attempt.
    for (let attempt = 1; attempt < 6 && ratio > 2.5; attempt++) ratio = growth(dropUnloadableUrls, make, base);
    expect(ratio).toBeLessThanOrEqual(2.5);
  });

  it('text: long lines of links and markup characters', () => {
    const make = (n: number) => 'https://x.test/a&b <"\'> '.repeat(n);
    let ratio = growth(frameMessageText, make, 5_000);
    for (let attempt = 1; attempt < 6 && ratio > 2.5; attempt++) ratio = growth(frameMessageText, make, 5_000);
    expect(ratio).toBeLessThanOrEqual(2.5);
  });
});
