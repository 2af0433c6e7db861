import { makePreview } from './html-text';

describe('makePreview', () => {
  // The regex version it replaced, kept as the reference.
  const reference = (text: string, max = 200) => {
    let collapsed = text.slice(0, max * 8).replace(/\s+/g, ' ').trim();
    if (collapsed.length <= max && text.length > max * 8) collapsed = text.replace(/\s+/g, ' ').trim();
    if (collapsed.length <= max) return collapsed;
    let cut = collapsed.slice(0, max);
    const space = cut.lastIndexOf(' ');
    if (space > max * 0.8) cut = cut.slice(0, space);
    if (/[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1);
    return `${cut.trimEnd()}…`;
  };
  const alphabet = ['a', 'b', 'Z', '9', '.', ' ', '  ', '\t', '\r\n', '\n\n', '\u00a0', '\u2003', '\u3000', '\ufeff', '\u180e', '\u0085', 'é', '😀', '\ud83d'];

  it('agrees with the regex reference on random texts', () => {
    let seed = 11;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let n = 0; n < 4000; n++) {
      const max = [1, 5, 10, 40, 200][next() % 5];
      const length = next() % (max * 3 + 4);
      let text = '';
      for (let i = 0; i < length; i++) text += alphabet[next() % alphabet.length];
      expect({ text, max, preview: makePreview(text, max) }).toEqual({ text, max, preview: reference(text, max) });
    }
  });

  it('reads past a long run of whitespace at the start', () => {
    const text = `${' '.repeat(5000)}hello   world`;
    expect(makePreview(text)).toBe('hello world');
    expect(makePreview(text)).toBe(reference(text));
  });

  it('cuts at a word boundary near the limit', () => {
    const text = 'word '.repeat(100);
    expect(makePreview(text, 23)).toBe('word word word word…');
  });
});
