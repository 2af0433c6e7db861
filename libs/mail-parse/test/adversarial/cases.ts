/**
 * Hostile inputs for the parser and sanitizer, generated at any size: each one made a regex or a
 * nested scan super-linear before issue 14, or is of the same kind. `make(n)` builds the input
 * from n repetitions of the hostile unit; src/adversarial.spec.ts checks that doubling n at most
 * about doubles the time.
 *
 * Targets: `css` = neutralizeCss, `html` = sanitizeMailHtml, `text` = htmlToText, `mail` = parseMail
 * (a raw message), `header` = parseStructuredValue, `structure` = parseMail with a BODYSTRUCTURE
 * that matches none of the parser's attachments, `attachments` = the attachment-to-part lookup
 * alone (n attachments, n parts of another type; the input string is unused).
 */

export type AdversarialTarget = 'css' | 'html' | 'text' | 'mail' | 'header' | 'structure' | 'attachments';

export interface AdversarialCase {
  name: string;
  target: AdversarialTarget;
  /** Repetitions at the smaller size: large enough that the run takes tens of milliseconds. */
  base: number;
  make(n: number): string;
}

const repeat = (unit: string, n: number) => unit.repeat(n);

/** A message with the given headers and body, CRLF line ends. */
export function message(headers: string[], body: string): string {
  return [...headers, 'MIME-Version: 1.0', '', body].join('\r\n');
}

const html = (body: string) => message(['From: a@example.test', 'Subject: x', 'Content-Type: text/html; charset=utf-8'], body);

export const ADVERSARIAL_CASES: AdversarialCase[] = [
  // CSS: every kind of unclosed construct, repeated.
  { name: 'css: url( without ) (issue 14: 96 KB took 1.2 s)', target: 'css', base: 240_000, make: (n) => repeat('url(//', n) },
  { name: 'css: URL( with escapes, unclosed', target: 'css', base: 15_000, make: (n) => repeat('u\\72l(\\68ttps://x', n) },
  { name: 'css: url(" with unterminated strings', target: 'css', base: 60_000, make: (n) => repeat('url("//x ', n) },
  { name: "css: image-set(' nested and unclosed", target: 'css', base: 40_000, make: (n) => repeat("image-set('//x' ", n) },
  { name: 'css: ((((', target: 'css', base: 400_000, make: (n) => `background:${repeat('(', n)}` },
  { name: 'css: /* unclosed comments', target: 'css', base: 300_000, make: (n) => repeat('/*/', n) },
  { name: 'css: long run of \\ escapes', target: 'css', base: 70_000, make: (n) => `color:${repeat('\\', n)}` },
  { name: 'css: \\000075rl( escapes', target: 'css', base: 25_000, make: (n) => repeat('\\000075rl(//x ', n) },
  { name: 'css: long run of <', target: 'css', base: 20_000, make: (n) => `a{content:${repeat('<', n)}}` },
  { name: 'css: dangerous, @import without ;', target: 'css', base: 80_000, make: (n) => `x:expression(1);${repeat('@import url(', n)}` },
  { name: 'css: dangerous, url(data: without )', target: 'css', base: 40_000, make: (n) => `x:expression(1);${repeat('url( "data:text/html,', n)}` },
  { name: 'css: dangerous, spaced e x p r e s s i o n', target: 'css', base: 32_000, make: (n) => `x:expression(1);${repeat('e x p r e s s i o n ', n)}` },
  // HTML through the sanitizer.
  { name: 'html: style="url(//url(//…" (issue 14)', target: 'html', base: 120_000, make: (n) => `<p style="${repeat('url(//', n)}">x</p>` },
  { name: 'html: <style> with url( unclosed', target: 'html', base: 40_000, make: (n) => `<style>${repeat('a{b:url(//', n)}</style><p>x</p>` },
  { name: 'html: long run of <', target: 'html', base: 30_000, make: (n) => `<p>${repeat('<', n)}</p>` },
  { name: 'html: long run of &#', target: 'html', base: 100_000, make: (n) => `<p>${repeat('&#', n)}</p>` },
  { name: 'html: long attribute value', target: 'html', base: 300_000, make: (n) => `<p title="${repeat('a', n)}" style="color:${repeat('b', n)}">x</p>` },
  { name: 'html: unterminated attribute quotes', target: 'html', base: 300_000, make: (n) => `<p ${repeat('a="', n)}>x</p>` },
  { name: 'html: many <style> elements', target: 'html', base: 5_000, make: (n) => repeat('<style>a{color:red}</style><style', n) },
  { name: 'html: many images with remote CSS', target: 'html', base: 1_000, make: (n) => repeat('<img src="https://x.test/a.png" style="background:image-set(\'//x\' 1x)">', n) },
  // Plain text from sanitized-looking HTML.
  { name: 'text: <style without its closing tag', target: 'text', base: 100_000, make: (n) => repeat('<style>x', n) },
  { name: 'text: <!-- without -->', target: 'text', base: 300_000, make: (n) => repeat('<!--x', n) },
  { name: 'text: <td without >', target: 'text', base: 200_000, make: (n) => repeat('<td x', n) },
  { name: 'text: long run of <', target: 'text', base: 800_000, make: (n) => repeat('<', n) },
  // Headers.
  { name: 'header: Content-Type comment ((((  (issue 14: 40 KB took 0.56 s)', target: 'header', base: 2_000_000, make: (n) => `text/plain ${repeat('(', n)}` },
  { name: 'header: unterminated quoted parameters', target: 'header', base: 60_000, make: (n) => `text/plain${repeat('; a="x\\', n)}` },
  { name: 'header: RFC 2231 continuations', target: 'header', base: 80_000, make: (n) => `text/plain${repeat(`; name*1*=x`, n)}` },
  // Whole messages.
  { name: 'mail: Content-Type header of ((((', target: 'mail', base: 300_000, make: (n) => message(['From: a@example.test', `Content-Type: text/plain ${repeat('(', n)}`], 'hello') },
  { name: 'mail: huge Subject line', target: 'mail', base: 800_000, make: (n) => message(['From: a@example.test', `Subject: ${repeat('a', n)}`, 'Content-Type: text/plain'], 'hello') },
  { name: 'mail: unterminated quoted boundary', target: 'mail', base: 60_000, make: (n) => message(['From: a@example.test', `Content-Type: multipart/mixed; boundary="${repeat('\\"', n)}`], 'hello') },
  { name: 'mail: References of <<<<', target: 'mail', base: 600_000, make: (n) => message(['From: a@example.test', `References: ${repeat('<', n)}`, 'Content-Type: text/plain'], 'hello') },
  { name: 'mail: unclosed encoded words', target: 'mail', base: 40_000, make: (n) => message(['From: a@example.test', `Subject: ${repeat('=?utf-8?q?', n)}`, 'Content-Type: text/plain'], 'hello') },
  { name: 'mail: boundary-like lines', target: 'mail', base: 1_000, make: (n) => message(['From: a@example.test', 'Content-Type: multipart/mixed; boundary=b'], `--b\r\nContent-Type: text/plain\r\n\r\n${repeat('--bx\r\n-b\r\n', n)}--b--\r\n`) },
  { name: 'mail: base64 garbage', target: 'mail', base: 200_000, make: (n) => message(['From: a@example.test', 'Content-Type: application/octet-stream', 'Content-Transfer-Encoding: base64'], repeat('!@#$', n)) },
  { name: 'mail: quoted-printable with = runs', target: 'mail', base: 600_000, make: (n) => message(['From: a@example.test', 'Content-Type: text/plain', 'Content-Transfer-Encoding: quoted-printable'], repeat('=    ', n)) },
  { name: 'mail: HTML body of url(//', target: 'mail', base: 80_000, make: (n) => html(`<p style="${repeat('url(//', n)}">x</p>`) },
  { name: 'mail: deep nested multiparts, past the scanner\'s depth limit', target: 'mail', base: 200, make: (n) => nested(n) },
  // 32 → 64 levels: both past SUSPICIOUS_DEPTH (the same warning path) and well inside
  // MAX_SCAN_DEPTH. From 50 to 100 levels the cost measures ×2.2-2.4 (both the scanner and
  // postal-mime), too near the limit of 2.5 for a timing on a shared machine (a clean-clone CI run
  // failed on ×2.89); deeper input costs no more (the case above).
  { name: 'mail: deep nested multiparts, within the depth limit', target: 'mail', base: 32, make: (n) => nested(n) },
  { name: 'mail: many parts', target: 'mail', base: 800, make: (n) => manyParts(n, 'application/octet-stream') },
  { name: 'attachments: n attachments, n parts of another type (issue 14: 10,000 took 2.3 s)', target: 'attachments', base: 20_000, make: (n) => String(n) },
  { name: 'structure: many parts matching no BODYSTRUCTURE leaf', target: 'structure', base: 1_000, make: (n) => manyParts(n, 'application/octet-stream') },
];

function nested(depth: number): string {
  let body = 'Content-Type: text/plain\r\n\r\ninnermost\r\n';
  for (let i = depth; i > 0; i--) body = `Content-Type: multipart/mixed; boundary=b${i}\r\n\r\n--b${i}\r\n${body}--b${i}--\r\n`;
  return `From: a@example.test\r\nMIME-Version: 1.0\r\n${body}`;
}

export function manyParts(count: number, type: string): string {
  const parts: string[] = [];
  for (let i = 0; i < count; i++) parts.push(`--b\r\nContent-Type: ${type}\r\nContent-Disposition: attachment; filename=f${i}\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n`);
  return message(['From: a@example.test', 'Content-Type: multipart/mixed; boundary=b'], `${parts.join('')}--b--\r\n`);
}
