const SECRET_KEY = /pass(word)?|secret|token|authorization|cookie|credential|apikey|api_key|^auth$/i;
const BODY_KEY = /^(html|text|raw|body|content|source)$/i;
const REDACTED = '[redacted]';

/**
 * Copies a log payload with secrets and message bodies replaced, so no password, token or mail
 * content reaches a log line whatever a caller passes in.
 */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6) return '[truncated]';
  if (value instanceof Error) return { name: value.name, message: redactString(value.message), code: (value as { code?: unknown }).code };
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => redact(v, depth + 1));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      out[key] = SECRET_KEY.test(key) || BODY_KEY.test(key) ? REDACTED : redact(v, depth + 1);
    }
    return out;
  }
  if (typeof value === 'string') return redactString(value);
  return value;
}

/** Strips credentials embedded in URLs (redis://:pass@host) and bearer tokens from free text. */
export function redactString(text: string): string {
  return text
    .replace(/\b(\w+:\/\/)([^:@/\s]*):([^@/\s]+)@/g, `$1$2:${REDACTED}@`)
    .replace(/(bearer\s+)[\w.~+/=-]+/gi, `$1${REDACTED}`)
    .replace(/\b(eyJ[\w-]+\.[\w-]+\.[\w-]+)\b/g, REDACTED);
}
