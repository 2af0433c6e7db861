import type { AttachmentMeta } from '@pushmail/contracts';
import { findScriptCapableMarkup } from './safety';

/** The `<name>.expected.json` beside each corpus message (libs/mail-parse/test/corpus). */
export interface CorpusExpectation {
  description: string;
  subject?: string;
  from?: unknown;
  to?: unknown;
  cc?: unknown;
  date?: string | null;
  messageId?: string | null;
  inReplyTo?: string;
  references?: string[];
  text?: string;
  html?: null;
  preview?: string;
  previewMaxLength?: number;
  previewStartsWith?: string;
  textIncludes?: string[];
  textExcludes?: string[];
  /** `{partPath:<partId>}` stands for the part URL of that part. */
  htmlIncludes?: string[];
  htmlExcludes?: string[];
  attachments?: Array<Partial<AttachmentMeta>>;
  /** Each must be a substring of some parse warning. Absent: the message must parse without warnings. */
  warnings?: string[];
  /** Junk input: any warnings are fine. */
  warningsAllowed?: boolean;
  noScriptCapableMarkup?: boolean;
}

interface Checked {
  subject: string;
  from: unknown;
  to: unknown;
  cc: unknown;
  date: string | null;
  messageId: string | null;
  inReplyTo?: string;
  references?: string[];
  text: string;
  html: string | null;
  preview: string;
  attachments: AttachmentMeta[];
  parseWarnings?: string[];
}

/**
 * Compares a parsed message with its expectation; returns what differs (empty when it matches).
 * Pure so that the unit test, the integration test (stored payloads) and the benchmark share it.
 */
export function corpusMismatches(parsed: Checked, expected: CorpusExpectation, partUrl: (partId: string) => string): string[] {
  const problems: string[] = [];
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  for (const key of ['subject', 'from', 'to', 'cc', 'date', 'messageId', 'inReplyTo', 'references', 'text', 'html', 'preview'] as const) {
    if (key in expected && !same(parsed[key], expected[key])) {
      problems.push(`${key}: expected ${JSON.stringify(expected[key])}, got ${JSON.stringify(parsed[key])?.slice(0, 300)}`);
    }
  }
  for (const s of expected.textIncludes ?? []) if (!parsed.text.includes(s)) problems.push(`text lacks ${JSON.stringify(s)}: ${JSON.stringify(parsed.text.slice(0, 300))}`);
  for (const s of expected.textExcludes ?? []) if (parsed.text.includes(s)) problems.push(`text contains ${JSON.stringify(s)}`);
  const fill = (s: string) => s.replace(/\{partPath:([^}]+)\}/g, (_m, id: string) => partUrl(id));
  for (const s of expected.htmlIncludes ?? []) if (!(parsed.html ?? '').includes(fill(s))) problems.push(`html lacks ${JSON.stringify(fill(s))}: ${JSON.stringify(parsed.html?.slice(0, 500))}`);
  for (const s of expected.htmlExcludes ?? []) if ((parsed.html ?? '').includes(fill(s))) problems.push(`html contains ${JSON.stringify(fill(s))}`);
  if (expected.previewMaxLength !== undefined && parsed.preview.length > expected.previewMaxLength) problems.push(`preview is ${parsed.preview.length} characters`);
  if (expected.previewStartsWith !== undefined && !parsed.preview.startsWith(expected.previewStartsWith)) problems.push(`preview starts ${JSON.stringify(parsed.preview.slice(0, 80))}`);
  if (expected.attachments) {
    if (parsed.attachments.length !== expected.attachments.length) {
      problems.push(`expected ${expected.attachments.length} attachments, got ${JSON.stringify(parsed.attachments)}`);
    } else {
      expected.attachments.forEach((want, i) => {
        // A spread copy is an object literal, so it reads as a plain record with no cast.
        const actual: Record<string, unknown> = { ...parsed.attachments[i] };
        for (const [key, value] of Object.entries(want)) {
          const got = actual[key];
          if (!same(got, value)) problems.push(`attachments[${i}].${key}: expected ${JSON.stringify(value)}, got ${JSON.stringify(got)}`);
        }
      });
    }
  }
  const warnings = parsed.parseWarnings ?? [];
  if (expected.warnings) {
    for (const w of expected.warnings) if (!warnings.some((got) => got.includes(w))) problems.push(`no warning mentions ${JSON.stringify(w)}: ${JSON.stringify(warnings)}`);
  } else if (!expected.warningsAllowed && warnings.length) {
    problems.push(`unexpected warnings ${JSON.stringify(warnings)}`);
  }
  if (parsed.html) {
    const unsafe = findScriptCapableMarkup(parsed.html);
    if (unsafe.length) problems.push(`script-capable markup left: ${unsafe.join('; ')}`);
  }
  return problems;
}
