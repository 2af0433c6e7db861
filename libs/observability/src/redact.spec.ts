import { JsonLogger } from './json-logger';
import { redact, redactString } from './redact';

describe('redact', () => {
  it('hides secrets and bodies at any depth', () => {
    const out = redact({ imap: { user: 'alice', pass: 'hunter2' }, token: 't', html: '<b>x</b>', nested: [{ Authorization: 'Bearer x' }] });
    expect(JSON.stringify(out)).not.toMatch(/hunter2|<b>|Bearer x/);
    expect(out).toMatchObject({ imap: { user: 'alice', pass: '[redacted]' } });
  });

  it('strips credentials from URLs and bearer tokens from text', () => {
    expect(redactString('redis://:s3cret@host:6379')).toBe('redis://:[redacted]@host:6379');
    expect(redactString('auth Bearer abc.def')).toBe('auth Bearer [redacted]');
    expect(redactString('jwt eyJhbGciOi.eyJzdWIi.sig')).toBe('jwt [redacted]');
  });

  it('JsonLogger writes redacted JSON lines with level filtering', () => {
    const lines: string[] = [];
    const logger = new JsonLogger('info', { app: 'test' }, (l) => lines.push(l));
    logger.debug('hidden');
    logger.log({ msg: 'login', pass: 'hunter2' }, 'Ctx');
    logger.error(new Error('connect redis://:pw@h failed'));
    expect(lines).toHaveLength(2);
    const first = JSON.parse(lines[0]);
    expect(first).toMatchObject({ level: 'info', app: 'test', context: 'Ctx', msg: 'login', pass: '[redacted]' });
    expect(lines[1]).not.toContain(':pw@');
  });
});
