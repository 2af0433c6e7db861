import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CorpusExpectation, corpusMismatches } from './corpus-expectation';
import { parseMail } from './parse-mail';

const dir = join(__dirname, '../test/corpus');
const names = readdirSync(dir)
  .filter((f) => f.endsWith('.eml'))
  .map((f) => f.slice(0, -4))
  .sort();
const partUrl = (partId: string) => `/parts/${partId}`;

describe('parser corpus', () => {
  it('has at least 40 messages, each with an expected-fields file', () => {
    expect(names.length).toBeGreaterThanOrEqual(40);
    for (const name of names) expect(() => readFileSync(join(dir, `${name}.expected.json`))).not.toThrow();
  });

  it.each(names)('%s', async (name) => {
    const raw = readFileSync(join(dir, `${name}.eml`));
    const expected = JSON.parse(readFileSync(join(dir, `${name}.expected.json`), 'utf8')) as CorpusExpectation;
    const parsed = await parseMail(raw, { partUrl });
    expect(corpusMismatches(parsed, expected, partUrl)).toEqual([]);
  });
});
