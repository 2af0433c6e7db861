import { AccountView, CreateAccountBody, OAuthSignInProvider, OAuthStartResponse, PartLink, partPath } from '@pushmail/contracts';
import { PushmailError } from './errors';
import type { TokenSource } from './pushmail-client';

/** The fields of a new account; the gateway takes the user from the token. */
export type NewAccount = Omit<CreateAccountBody, 'userId' | 'mailboxes'> & { mailboxes?: string[] };

/**
 * The gateway's HTTP routes for a signed-in user (client token, not the admin token): their own
 * accounts and message parts. See docs/protocol.md, "User API".
 */
export class PushmailHttpApi {
  constructor(
    private readonly baseUrl: string,
    private readonly token: TokenSource,
    private readonly fetchImpl: typeof fetch = (...args) => globalThis.fetch(...args),
  ) {}

  listAccounts(): Promise<AccountView[]> {
    return this.request<AccountView[]>('GET', '/api/me/accounts');
  }

  addAccount(account: NewAccount): Promise<AccountView> {
    return this.request<AccountView>('POST', '/api/me/accounts', account);
  }

  /** "Sign in with…" providers the operator configured (empty when none). */
  oauthProviders(): Promise<OAuthSignInProvider[]> {
    return this.request<OAuthSignInProvider[]>('GET', '/api/me/oauth/providers');
  }

  /**
   * Starts "Sign in with…": the consent URL to open in this same browser (the response sets the
   * cookie the callback checks). The callback creates the account and returns to the web client.
   */
  oauthStart(provider: string): Promise<OAuthStartResponse> {
    return this.request<OAuthStartResponse>('GET', `/api/me/oauth/${encodeURIComponent(provider)}/start`);
  }

  async removeAccount(accountId: string): Promise<void> {
    await this.request<void>('DELETE', `/api/me/accounts/${encodeURIComponent(accountId)}`);
  }

  /**
   * A signed URL for one MIME part that works where no header can be set (a link, an `<img>`),
   * without the client token in it: it is scoped to this part and expires within minutes
   * (`expiresAt`). `url` is absolute.
   */
  async partLink(accountId: string, mailbox: string, uid: number, partId: string): Promise<PartLink> {
    const link = await this.request<PartLink>('GET', `${partPath(accountId, mailbox, uid, partId)}/link`);
    return { url: this.absolute(link.url), expiresAt: link.expiresAt };
  }

  /** A part's bytes, with the token as a header (for code that can set one, unlike a browser link). */
  async downloadPart(accountId: string, mailbox: string, uid: number, partId: string): Promise<Response> {
    const res = await this.fetchImpl(this.absolute(partPath(accountId, mailbox, uid, partId)), { headers: { authorization: `Bearer ${await this.currentToken()}` } });
    if (!res.ok) throw new PushmailError(res.status === 401 ? 'unauthorized' : 'http', `part download: HTTP ${res.status}`, res.status);
    return res;
  }

  private absolute(path: string): string {
    return new URL(path, this.baseUrl).toString();
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${await this.currentToken()}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await this.fetchImpl(this.absolute(path), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    const data: unknown = text ? safeJson(text) : undefined;
    if (!res.ok) {
      const message = errorMessage(data) ?? `${method} ${path}: HTTP ${res.status}`;
      throw new PushmailError(res.status === 401 ? 'unauthorized' : 'http', message, res.status);
    }
    return data as T;
  }

  private async currentToken(): Promise<string> {
    return typeof this.token === 'function' ? this.token() : this.token;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Nest answers `{ message: string | string[] }`; the contract's acks use `{ error: { message } }`. */
function errorMessage(data: unknown): string | undefined {
  if (!data || typeof data !== 'object') return typeof data === 'string' && data ? data : undefined;
  const d = data as { message?: unknown; error?: { message?: unknown } };
  if (Array.isArray(d.message)) return d.message.join('; ');
  if (typeof d.message === 'string') return d.message;
  if (typeof d.error?.message === 'string') return d.error.message;
  return undefined;
}
