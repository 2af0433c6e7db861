import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ByteBlob } from './byte-blob';
import { parseMail } from './parse-mail';

describe('ByteBlob', () => {
  it('holds the same bytes as a Blob built from the same mixed parts', async () => {
    const pool = Buffer.from('pooled'); // a slice of Node's shared pool
    const parts = ['héllo ', new Uint8Array([0, 255, 10]), new Uint16Array([0x4142]).buffer, pool, '\n'];
    const ours = new ByteBlob(parts, { type: 'Application/Octet-Stream' });
    const node = new Blob(parts, { type: 'Application/Octet-Stream' });
    expect(ours.size).toBe(node.size);
    expect(ours.type).toBe(node.type);
    expect(Buffer.from(await ours.arrayBuffer())).toEqual(Buffer.from(await node.arrayBuffer()));
    expect(await ours.text()).toBe(await node.text());
  });

  it('hands out an exact-size copy each time, never shared memory', async () => {
    const blob = new ByteBlob([Buffer.from('abc')]);
    const first = await blob.arrayBuffer();
    expect(first.byteLength).toBe(3);
    new Uint8Array(first)[0] = 0;
    expect(Buffer.from(await blob.arrayBuffer()).toString()).toBe('abc');
  });

  it('parses the whole corpus exactly as with Node’s Blob', async () => {
    const dir = join(__dirname, '../test/corpus');
    const files = readdirSync(dir).filter((f) => f.endsWith('.eml'));
    const realBlob = globalThis.Blob;
    let made = 0;
    class CountingBlob extends ByteBlob {
      constructor(...args: ConstructorParameters<typeof ByteBlob>) {
        super(...args);
        made++;
      }
    }
    const partUrl = (partId: string) => `/parts/${partId}`;
    try {
      for (const file of files) {
        const raw = readFileSync(join(dir, file));
        globalThis.Blob = realBlob;
        const expected = await parseMail(raw, { partUrl });
        (globalThis as { Blob: unknown }).Blob = CountingBlob;
        const actual = await parseMail(raw, { partUrl });
        expect({ file, parsed: actual }).toEqual({ file, parsed: expected });
      }
    } finally {
      globalThis.Blob = realBlob;
    }
    // postal-mime looks Blob up when it joins a part, so the corpus really went through ours.
    expect(made).toBeGreaterThan(files.length);
  });
});
