type BlobPart = ArrayBuffer | ArrayBufferView | string;

const utf8 = new TextEncoder();

/**
 * The part of the Blob API postal-mime uses (`new Blob(chunks)`, then `arrayBuffer()`), kept in
 * JS memory. postal-mime joins every decoded MIME part through a Blob; Node's copies the bytes
 * into native storage and reads them back through an async reader, which measured 18 % of
 * parseMail on 3 KB messages. Installed only on the fetcher's parser threads
 * ({@link useByteBlobForParsing}), which run nothing but parsing.
 */
export class ByteBlob {
  readonly type: string;
  private readonly bytes: Uint8Array;

  constructor(parts: BlobPart[] = [], options: { type?: string } = {}) {
    this.type = (options.type ?? '').toLowerCase();
    const views = parts.map(toBytes);
    let size = 0;
    for (const view of views) size += view.byteLength;
    // A fresh exact-size buffer: arrayBuffer() may hand it out without exposing any other memory
    // (Buffer.from(string) can slice Node's shared pool).
    this.bytes = new Uint8Array(size);
    let offset = 0;
    for (const view of views) {
      this.bytes.set(view, offset);
      offset += view.byteLength;
    }
  }

  get size(): number {
    return this.bytes.byteLength;
  }

  /** A copy, like Blob's: callers may keep or transfer it. */
  arrayBuffer(): Promise<ArrayBuffer> {
    return Promise.resolve(this.bytes.slice().buffer);
  }

  text(): Promise<string> {
    return Promise.resolve(new TextDecoder().decode(this.bytes));
  }
}

function toBytes(part: BlobPart): Uint8Array {
  if (typeof part === 'string') return utf8.encode(part);
  // isView, not instanceof ArrayBuffer: buffers from another realm (a vm context) fail instanceof.
  if (ArrayBuffer.isView(part)) return new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
  return new Uint8Array(part);
}

/** Makes this thread's global Blob a {@link ByteBlob}. Only for a thread that does nothing but parse. */
export function useByteBlobForParsing(): void {
  (globalThis as { Blob: unknown }).Blob = ByteBlob;
}
