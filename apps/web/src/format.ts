import type { Address } from '@pushmail/contracts';

export function formatAddress(a: Address | null | undefined): string {
  if (!a) return '(unknown sender)';
  return a.name ? a.name : a.address;
}

export function formatAddressFull(a: Address): string {
  return a.name ? `${a.name} <${a.address}>` : a.address;
}

/** "14:05" today, "Mon 14:05" this week, "3 Mar" this year, else "3 Mar 2024". */
export function formatWhen(iso: string | null, now = new Date()): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const time = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  if (d.toDateString() === now.toDateString()) return time;
  const days = (now.getTime() - d.getTime()) / 86_400_000;
  if (days < 6 && days > 0) return `${d.toLocaleDateString(undefined, { weekday: 'short' })} ${time}`;
  const sameYear = d.getFullYear() === now.getFullYear();
  return d.toLocaleDateString(undefined, { day: 'numeric', month: 'short', ...(sameYear ? {} : { year: 'numeric' }) });
}

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** "a, b <c@d>" → addresses; names in front of <…> are kept. */
export function parseAddressList(input: string): Array<{ name?: string; address: string }> {
  return input
    .split(/[,;]\s*/)
    .map((s) => s.trim())
    .filter(Boolean)
    .map((part) => {
      // "Name <address>": the last "<" opens the address (indexOf, not /^(.*)<([^>]+)>$/, which backtracks quadratically).
      const open = part.lastIndexOf('<');
      const inner = open >= 0 && part.endsWith('>') ? part.slice(open + 1, -1) : '';
      if (!inner || inner.includes('>')) return { address: part };
      const name = part.slice(0, open).trim().replace(/^"|"$/g, '');
      return name ? { name, address: inner.trim() } : { address: inner.trim() };
    });
}

export function replySubject(subject: string): string {
  return /^re:/i.test(subject.trim()) ? subject : `Re: ${subject}`;
}

export function quoteText(text: string, from: Address | null, date: string | null): string {
  const who = from ? formatAddressFull(from) : 'the sender';
  const when = date ? new Date(date).toLocaleString() : '';
  const quoted = text
    .trimEnd()
    .split('\n')
    .map((l) => `> ${l}`)
    .join('\n');
  return `\n\nOn ${when}, ${who} wrote:\n${quoted}\n`;
}
