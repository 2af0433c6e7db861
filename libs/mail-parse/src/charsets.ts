const known = new Map<string, boolean>();

/**
 * Whether a charset label decodes as itself. postal-mime falls back to windows-1252 silently for an
 * unknown label; this lets the caller say so in parseWarnings.
 */
export function isKnownCharset(label: string): boolean {
  const key = label.trim().toLowerCase();
  let ok = known.get(key);
  if (ok === undefined) {
    ok = [key, key.replace(/^x-/, ''), key.replace(/^(?:cp|win|windows)-?(\d{3,4})$/, 'windows-$1'), key.replace(/^(iso|latin)[-_]?(\d)/, 'iso-8859-$2'), key.replace(/_/g, '-')].some(canDecode);
    if (known.size < 1000) known.set(key, ok);
  }
  return ok;
}

function canDecode(label: string): boolean {
  try {
    new TextDecoder(label);
    return true;
  } catch {
    return false;
  }
}

/** Decodes bytes in a charset, falling back to windows-1252 (every byte maps to something). */
export function decodeBytes(bytes: Uint8Array, charset: string | undefined): string {
  for (const label of [charset, 'windows-1252']) {
    if (!label) continue;
    try {
      return fixC1Controls(new TextDecoder(label).decode(bytes));
    } catch {
      // try the next label
    }
  }
  return new TextDecoder('utf-8').decode(bytes);
}

/**
 * windows-1252 for bytes 0x80–0x9F. Node 20's TextDecoder decodes windows-1252 (and the labels the
 * Encoding Standard maps to it: iso-8859-1, us-ascii, latin1) as ISO-8859-1, which turns smart
 * quotes, dashes and € into invisible C1 controls. Decoded mail never means C1 controls, so they
 * are mapped back to what the sender typed.
 */
const C1_AS_WINDOWS_1252 = [
  '€', '\u0081', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u008d', 'Ž', '\u008f',
  '\u0090', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u009d', 'ž', 'Ÿ',
];
const C1 = /[\u0080-\u009f]/g;

export function fixC1Controls(text: string): string {
  C1.lastIndex = 0;
  if (!C1.test(text)) return text;
  return text.replace(C1, (c) => C1_AS_WINDOWS_1252[c.charCodeAt(0) - 0x80]);
}
