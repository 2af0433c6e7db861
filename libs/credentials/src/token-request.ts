import { DialTarget } from '@pushmail/net-policy';
import { LookupFunction } from 'node:net';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** Largest token endpoint answer read (JSON with a few tokens): more is cut off and fails to parse. */
const MAX_RESPONSE_BYTES = 256 * 1024;

export interface TokenHttpResponse {
  status: number;
  /** The parsed JSON body, or `{}` when it was not JSON. */
  body: Record<string, unknown>;
}

/**
 * POSTs a form to a token endpoint. With `pinned`, the connection goes to that address (the one
 * the network policy just checked) instead of resolving the name again: a second lookup could
 * answer differently (DNS rebinding) and reach an address the policy refuses. TLS still verifies
 * the certificate against the URL's host name. No redirects are followed.
 */
export function postTokenForm(url: string, form: URLSearchParams, options: { pinned?: DialTarget; timeoutMs: number }): Promise<TokenHttpResponse> {
  const target = new URL(url);
  const body = Buffer.from(form.toString(), 'utf8');
  const pinned = options.pinned;
  const lookup: LookupFunction | undefined = pinned
    ? (_host, lookupOptions, callback) => {
        if (lookupOptions.all) callback(null, [{ address: pinned.address, family: pinned.family }]);
        else callback(null, pinned.address, pinned.family);
      }
    : undefined;
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', 'content-length': body.length },
        ...(lookup ? { lookup } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= MAX_RESPONSE_BYTES) chunks.push(chunk);
        });
        res.on('error', reject);
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            parsed = {};
          }
          resolve({ status: res.statusCode ?? 0, body: parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {} });
        });
      },
    );
    // A whole-exchange deadline (the socket timeout would only catch a silent connection).
    const timer = setTimeout(() => req.destroy(new Error(`token endpoint did not answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    req.end(body);
  });
}
