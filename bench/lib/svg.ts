import { cdfPoints } from './stats';

const COLORS: Record<string, string> = { floor: '#6b7280', pushmail: '#2563eb', fanout: '#059669', polling: '#d97706' };
const LABELS: Record<string, string> = {
  floor: 'floor: bare IMAP IDLE client',
  pushmail: 'pushmail: LMTP → socket.io client',
  polling: 'polling: STATUS every interval',
  fanout: 'gateway only: appended → client',
};

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Hand-written SVG: the empirical CDF of each latency series on a log-scale time axis, so the
 * floor (~500 ms), pushmail (just above it) and polling (tens of seconds) fit one chart.
 */
export function latencyCdfSvg(series: Record<string, number[]>, title: string): string {
  const W = 760;
  const H = 380;
  const m = { l: 56, r: 20, t: 40, b: 78 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const names = Object.keys(series).filter((k) => series[k].length);
  const all = names.flatMap((k) => series[k]).filter((v) => v > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.max(0.1, Math.min(...all, 100)))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...all, 1000))));
  const x = (v: number) => m.l + ((Math.log10(Math.min(hi, Math.max(lo, v))) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * pw;
  const y = (f: number) => m.t + (1 - f) * ph;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  parts.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`);
  // grid and axes
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    const gx = x(d);
    parts.push(`<line x1="${gx}" y1="${m.t}" x2="${gx}" y2="${m.t + ph}" stroke="#e5e7eb"/>`);
    const label = d >= 1000 ? `${d / 1000} s` : `${d} ms`;
    parts.push(`<text x="${gx}" y="${m.t + ph + 16}" text-anchor="middle" fill="#374151">${label}</text>`);
    for (const k of [2, 5]) if (d * k < hi) parts.push(`<line x1="${x(d * k)}" y1="${m.t}" x2="${x(d * k)}" y2="${m.t + ph}" stroke="#f3f4f6"/>`);
  }
  for (const f of [0, 0.25, 0.5, 0.75, 0.9, 1]) {
    const gy = y(f);
    parts.push(`<line x1="${m.l}" y1="${gy}" x2="${m.l + pw}" y2="${gy}" stroke="${f === 0.5 || f === 0.9 ? '#d1d5db' : '#f3f4f6'}"/>`);
    parts.push(`<text x="${m.l - 6}" y="${gy + 4}" text-anchor="end" fill="#374151">${Math.round(f * 100)}%</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#9ca3af"/>`);
  parts.push(`<text x="${m.l + pw / 2}" y="${m.t + ph + 34}" text-anchor="middle" fill="#111827">latency (log scale)</text>`);
  parts.push(`<text transform="translate(14 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle" fill="#111827">share of messages</text>`);
  // series
  names.forEach((name, i) => {
    const color = COLORS[name] ?? ['#7c3aed', '#db2777'][i % 2];
    const pts = cdfPoints(series[name], 300);
    let d = `M${x(pts[0][0]).toFixed(1)},${y(0).toFixed(1)}`;
    let prevY = y(0);
    for (const [v, f] of pts) {
      const px = x(v).toFixed(1);
      d += ` L${px},${prevY.toFixed(1)} L${px},${y(f).toFixed(1)}`;
      prevY = y(f);
    }
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    const lx = m.l + (i % 2) * (pw / 2);
    const ly = H - 26 + Math.floor(i / 2) * 16;
    parts.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 22}" y2="${ly - 4}" stroke="${color}" stroke-width="3"/>`);
    parts.push(`<text x="${lx + 28}" y="${ly}" fill="#111827">${esc(`${LABELS[name] ?? name} (n=${series[name].length})`)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
