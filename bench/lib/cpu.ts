import { readFileSync, readdirSync } from 'node:fs';

/** Linux reports process times in clock ticks of 1/100 s (USER_HZ) on every architecture Node runs on. */
const MS_PER_TICK = 10;

interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime: this process, all its threads. */
  ownTicks: number;
  /** cutime + cstime: children that exited and were reaped (Dovecot's per-connection processes). */
  reapedChildTicks: number;
}

/** Fields of /proc/<pid>/stat; the command name may hold spaces and parentheses, so split after its last ')'. */
export function parseProcStat(pid: number, text: string): ProcStat {
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14..17.
  return { pid, ppid: Number(fields[1]), ownTicks: Number(fields[11]) + Number(fields[12]), reapedChildTicks: Number(fields[13]) + Number(fields[14]) };
}

function readStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(pid, readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * CPU time of a process and everything below it (children alive now, and those already reaped),
 * in ms. A difference of two readings is the tree's CPU in between, except for children that
 * exited unreaped in the meantime.
 */
export function treeCpuMs(rootPid: number | undefined): number {
  if (!rootPid) return NaN;
  const all: ProcStat[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat) all.push(stat);
  }
  const children = new Map<number, ProcStat[]>();
  for (const stat of all) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), stat]);
  const root = all.find((s) => s.pid === rootPid);
  if (!root) return NaN;
  let ticks = 0;
  const stack = [root];
  while (stack.length) {
    const stat = stack.pop()!;
    ticks += stat.ownTicks + stat.reapedChildTicks;
    stack.push(...(children.get(stat.pid) ?? []));
  }
  return ticks * MS_PER_TICK;
}

/** CPU of named process trees over a stretch of time: call `stop()` at its end. */
export class CpuWindow {
  private readonly startedAt = performance.now();
  private readonly before: Map<string, number>;

  constructor(private readonly pids: Record<string, number | undefined>) {
    this.before = new Map(Object.entries(pids).map(([name, pid]) => [name, treeCpuMs(pid)]));
  }

  /** Per tree: CPU ms used, and the share of one core over the window. */
  stop(): { wallMs: number; rows: Array<{ name: string; cpuMs: number; cores: number }> } {
    const wallMs = performance.now() - this.startedAt;
    const rows = Object.entries(this.pids).map(([name, pid]) => {
      const cpuMs = treeCpuMs(pid) - (this.before.get(name) ?? NaN);
      return { name, cpuMs, cores: cpuMs / wallMs };
    });
    return { wallMs, rows };
  }
}
