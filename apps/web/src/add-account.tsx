import { useEffect, useRef, useState } from 'preact/hooks';
import type { OAuthSignInProvider } from '@pushmail/contracts';
import { describeError, type MailStore } from './mail-store';
import { providerForEmail, providers, type ProviderPreset } from './providers';
import { useRestoreFocus } from './use-store';

interface ServerFields {
  host: string;
  port: string;
  secure: boolean;
}

export function AddAccount(props: { store: MailStore; onClose: () => void }) {
  const [provider, setProvider] = useState<ProviderPreset>(providers[0]);
  const [email, setEmail] = useState('');
  const [user, setUser] = useState('');
  const [pass, setPass] = useState('');
  const [imap, setImap] = useState<ServerFields>(toFields(providers[0].imap));
  /** POP3 mailboxes are polled by the server (every 60 s by default), IMAP ones pushed. */
  const [protocol, setProtocol] = useState<'imap' | 'pop3'>('imap');
  const [smtp, setSmtp] = useState<ServerFields>(toFields(providers[0].smtp));
  const [showServers, setShowServers] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useRestoreFocus();
  const first = useRef<HTMLSelectElement>(null);
  useEffect(() => first.current?.focus(), []);
  /** "Sign in with…" providers the operator configured: no password to type, the server gets an OAuth grant. */
  const [oauthProviders, setOAuthProviders] = useState<OAuthSignInProvider[]>([]);
  useEffect(() => {
    void props.store.oauthProviders().then(setOAuthProviders);
  }, [props.store]);
  const signInWith = async (id: string) => {
    setBusy(true);
    setError(null);
    try {
      await props.store.signInWith(id);
    } catch (err) {
      setError(describeError(err));
      setBusy(false);
    }
  };

  const chooseProtocol = (next: 'imap' | 'pop3') => {
    setProtocol(next);
    // The usual TLS ports: 993 for IMAP, 995 for POP3.
    if (next === 'pop3' && imap.port === '993') setImap({ ...imap, port: '995', secure: true });
    if (next === 'imap' && imap.port === '995') setImap({ ...imap, port: '993', secure: true });
  };

  const choose = (p: ProviderPreset) => {
    setProvider(p);
    setProtocol('imap');
    setImap(toFields(p.imap));
    setSmtp(toFields(p.smtp));
    if (p.id === 'custom') setShowServers(true);
  };

  const onEmail = (value: string) => {
    setEmail(value);
    const guess = providerForEmail(value);
    if (guess && guess.id !== provider.id) choose(guess);
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const login = user.trim() || email.trim();
    try {
      const incoming = { host: imap.host.trim(), port: Number(imap.port), secure: imap.secure, user: login, pass };
      const smtpSettings = { host: smtp.host.trim(), port: Number(smtp.port), secure: smtp.secure, user: login, pass };
      await props.store.addAccount(protocol === 'pop3' ? { email: email.trim(), pop3: incoming, smtp: smtpSettings } : { email: email.trim(), imap: incoming, smtp: smtpSettings });
      props.onClose();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="overlay" onKeyDown={(e) => e.key === 'Escape' && !busy && props.onClose()}>
      <form class="dialog" role="dialog" aria-modal="true" aria-labelledby="add-title" onSubmit={submit}>
        <header class="dialog-head">
          <h2 id="add-title">Add an account</h2>
          <button type="button" class="icon" onClick={props.onClose} aria-label="Close">
            ✕
          </button>
        </header>
        {oauthProviders.length > 0 && (
          <div class="oauth-buttons">
            {oauthProviders.map((p) => (
              <button key={p.id} type="button" disabled={busy} onClick={() => void signInWith(p.id)}>
                Sign in with {p.label}
              </button>
            ))}
            <p class="muted small">Or add any mailbox with its password:</p>
          </div>
        )}
        <label>
          Provider
          <select ref={first} value={provider.id} onChange={(e) => choose(providers.find((p) => p.id === e.currentTarget.value) ?? providers[0])}>
            {providers.map((p) => (
              <option key={p.id} value={p.id}>
                {p.label}
              </option>
            ))}
          </select>
        </label>
        {provider.hint && <p class="muted small">{provider.hint}</p>}
        <label>
          E-mail address
          <input type="email" required value={email} onInput={(e) => onEmail(e.currentTarget.value)} autoComplete="email" />
        </label>
        <label>
          <span>
            User name <span class="small">(if not the address)</span>
          </span>
          <input type="text" value={user} onInput={(e) => setUser(e.currentTarget.value)} autoComplete="username" placeholder={email} />
        </label>
        <label>
          Password
          <input type="password" required value={pass} onInput={(e) => setPass(e.currentTarget.value)} autoComplete="current-password" />
        </label>
        <button type="button" class="link-button" aria-expanded={showServers} onClick={() => setShowServers(!showServers)}>
          {showServers ? '▾' : '▸'} Servers: {imap.host || '?'}:{imap.port}, {smtp.host || '?'}:{smtp.port}
        </button>
        {showServers && (
          <div class="servers">
            <label>
              Incoming mail
              <select value={protocol} onChange={(e) => chooseProtocol(e.currentTarget.value === 'pop3' ? 'pop3' : 'imap')}>
                <option value="imap">IMAP (new mail is pushed)</option>
                <option value="pop3">POP3 (checked every 60 s)</option>
              </select>
            </label>
            <ServerEditor legend={protocol === 'pop3' ? 'Incoming (POP3)' : 'Incoming (IMAP)'} value={imap} onChange={setImap} tlsHint={protocol === 'pop3' ? '995 = TLS' : '993 = TLS'} />
            <ServerEditor legend="Outgoing (SMTP)" value={smtp} onChange={setSmtp} tlsHint="465 = TLS, 587 = STARTTLS" />
          </div>
        )}
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <footer class="dialog-foot">
          <span class="muted small">Your password is stored encrypted on the server.</span>
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Adding…' : 'Add account'}
          </button>
        </footer>
      </form>
    </div>
  );
}

function ServerEditor(props: { legend: string; value: ServerFields; onChange: (v: ServerFields) => void; tlsHint: string }) {
  const v = props.value;
  return (
    <fieldset>
      <legend>{props.legend}</legend>
      <label>
        Host
        <input type="text" required value={v.host} onInput={(e) => props.onChange({ ...v, host: e.currentTarget.value })} />
      </label>
      <div class="row">
        <label>
          Port
          <input type="number" min={1} max={65535} required value={v.port} onInput={(e) => props.onChange({ ...v, port: e.currentTarget.value })} />
        </label>
        <label class="check" title={props.tlsHint}>
          <input type="checkbox" checked={v.secure} onChange={(e) => props.onChange({ ...v, secure: e.currentTarget.checked })} />
          TLS from the start
        </label>
      </div>
    </fieldset>
  );
}

const toFields = (s: { host: string; port: number; secure: boolean }): ServerFields => ({ host: s.host, port: String(s.port), secure: s.secure });
