import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { OAUTH_ERROR_PARAM, OAUTH_RESULT_PARAM } from '@pushmail/contracts';
import { AddAccount } from './add-account';
import { Compose, type ComposeDraft } from './compose';
import { BellIcon, MenuIcon } from './icons';
import { ConnectionIndicator } from './connection-indicator';
import { quoteText, replySubject } from './format';
import { MailStore, describeError, type FolderRef, type MailItem } from './mail-store';
import { cssId, MessageList } from './message-list';
import { notificationPermission, notifyNewMail, requestNotificationPermission, type NotificationPermissionState } from './notifications';
import { Reader } from './reader';
import { Sidebar } from './sidebar';
import { SignIn } from './sign-in';
import { useStore } from './use-store';

const TOKEN_KEY = 'pushmail.token';

/** `npm start` prints `…/#token=…`: take it, keep it, and drop it from the address bar. */
function initialToken(): string | null {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (match) {
    const token = decodeURIComponent(match[1]);
    localStorage.setItem(TOKEN_KEY, token);
    history.replaceState(null, '', location.pathname + location.search);
    return token;
  }
  return localStorage.getItem(TOKEN_KEY);
}

/** Why "Sign in with…" created nothing, as the gateway's callback reports it in `oauth_error`. */
const OAUTH_ERRORS: Record<string, string> = {
  access_denied: 'Sign-in was cancelled at the provider.',
  provider_error: 'The provider refused the sign-in. Try again.',
  no_refresh_token: 'The provider gave no lasting access (refresh token). Try again and allow offline access.',
  no_email: 'The provider did not tell us the e-mail address.',
  not_allowed: 'This server may not connect to that mail server.',
  too_many_accounts: 'You already have as many accounts as this server allows.',
  rate_limited: 'Too many account changes this hour. Try again later.',
};

/** After "Sign in with…" the gateway sends the browser back with `?oauth=…`: say how it went, once, and clean the address bar. */
function oauthReturnNotice(): string | null {
  const params = new URLSearchParams(location.search);
  const result = params.get(OAUTH_RESULT_PARAM);
  const error = params.get(OAUTH_ERROR_PARAM);
  if (result === null && error === null) return null;
  for (const name of [OAUTH_RESULT_PARAM, OAUTH_ERROR_PARAM, 'account']) params.delete(name);
  const rest = params.toString();
  history.replaceState(null, '', location.pathname + (rest ? `?${rest}` : '') + location.hash);
  if (error !== null) return `The account was not added: ${OAUTH_ERRORS[error] ?? error}`;
  return 'Account added. It connects in a few seconds.';
}

export function App() {
  const [token, setToken] = useState<string | null>(initialToken);
  const [signInError, setSignInError] = useState<string | undefined>();
  const store = useMemo(() => (token ? new MailStore(location.origin, token) : null), [token]);

  useEffect(() => {
    if (!store) return;
    // A refused token shows up as the connection's state; Mail signs out on it.
    store.start().catch(() => undefined);
    return () => store.stop();
  }, [store]);

  if (!store || !token) {
    return (
      <SignIn
        error={signInError}
        onSignIn={(t) => {
          localStorage.setItem(TOKEN_KEY, t);
          setSignInError(undefined);
          setToken(t);
        }}
      />
    );
  }
  const signOut = (reason?: string) => {
    localStorage.removeItem(TOKEN_KEY);
    setSignInError(reason);
    setToken(null);
  };
  return <Mail store={store} token={token} onSignOut={signOut} />;
}

function Mail(props: { store: MailStore; token: string; onSignOut: (reason?: string) => void }) {
  const { store, onSignOut } = props;
  useStore(store);
  const refused = store.connection.state === 'offline' && store.connection.error === 'unauthorized';
  useEffect(() => {
    // Refused at sign-in, or later: the gateway closes the connection when the token expires.
    if (refused) onSignOut('The gateway refused this token: it has expired, was revoked, or is for another server. Sign in again.');
  }, [refused, onSignOut]);
  const [filter, setFilter] = useState<FolderRef | null>(null);
  const [selectedKey, setSelectedKey] = useState<string | null>(null);
  const [compose, setCompose] = useState<ComposeDraft | null>(null);
  const [adding, setAdding] = useState(false);
  const [menuOpen, setMenuOpen] = useState(false);
  const [notice, setNotice] = useState<string | null>(oauthReturnNotice);
  const [permission, setPermission] = useState<NotificationPermissionState>(notificationPermission);

  const dialogOpen = compose !== null || adding;
  const searching = filter && store.search && store.search.ref.accountId === filter.accountId && store.search.ref.mailbox === filter.mailbox ? store.search : null;
  const items = searching ? searching.items.map((m) => store.messages.get(m.key) ?? m) : store.list(filter ?? undefined);
  const selected = selectedKey ? (store.messages.get(selectedKey) ?? null) : null;
  const accountEmail = (id: string) => store.accounts.find((a) => a.id === id)?.email ?? null;
  const title = filter ? `${accountEmail(filter.accountId) ?? ''} · ${filter.mailbox === 'INBOX' ? 'Inbox' : filter.mailbox}` : 'All inboxes';

  const open = useCallback(
    (item: MailItem) => {
      setSelectedKey(item.key);
      if (!store.messages.has(item.key)) store.messages.set(item.key, item);
      store.ensureLoaded(item).catch((err: unknown) => setNotice(`Could not load the message: ${describeError(err)}`));
      store.markSeen(store.messages.get(item.key) ?? item).catch((err: unknown) => setNotice(`Could not mark as read: ${describeError(err)}`));
    },
    [store],
  );

  // The account shown was removed elsewhere (another tab, the operator): back to all inboxes.
  useEffect(() => {
    if (filter && store.accountsLoaded && !store.accounts.some((a) => a.id === filter.accountId)) setFilter(null);
  });

  // A folder's newest 50 when it is first opened; more as the list scrolls.
  useEffect(() => {
    if (filter && !store.started(filter)) store.loadMore(filter).catch((err: unknown) => setNotice(`Could not list ${filter.mailbox}: ${describeError(err)}`));
    if (store.search && (!filter || store.search.ref.accountId !== filter.accountId || store.search.ref.mailbox !== filter.mailbox)) store.clearSearch();
  }, [store, filter?.accountId, filter?.mailbox]);

  /** After a delete, archive or move, the next message (or none) is selected and the list keeps focus. */
  const organize = (item: MailItem, action: (m: MailItem) => Promise<void>, failure: string) => {
    const index = items.findIndex((m) => m.key === item.key);
    const next = items[index + 1] ?? items[index - 1];
    action(item)
      .then(() => {
        setSelectedKey(next && next.key !== item.key ? next.key : null);
        if (next) document.getElementById(`msg-${cssId(next.key)}`)?.focus();
      })
      .catch((err: unknown) => setNotice(`${failure}: ${describeError(err)}`));
  };
  const remove = (item: MailItem) => organize(item, (m) => store.deleteMessage(m), 'Could not delete');
  const archive = (item: MailItem) => organize(item, (m) => store.archive(m), 'Could not archive');
  const moveTo = (item: MailItem, to: string) => organize(item, (m) => store.moveMessage(m, to), `Could not move to ${to}`);
  const folderPaths = selected ? (store.folders.get(selected.accountId) ?? []).filter((f) => f.messages !== null).map((f) => f.path) : [];

  useEffect(
    () =>
      store.onNewMail((item) => {
        notifyNewMail(item, () => open(item));
      }),
    [store, open],
  );

  const unreadTotal = store.unread();
  useEffect(() => {
    document.title = unreadTotal > 0 ? `(${unreadTotal}) pushmail` : 'pushmail';
  }, [unreadTotal]);

  const reply = (item: MailItem) => {
    setCompose({
      accountId: item.accountId,
      to: item.from ? (item.from.name ? `${item.from.name} <${item.from.address}>` : item.from.address) : '',
      cc: '',
      subject: replySubject(item.subject),
      text: quoteText(item.text, item.from, item.date),
      inReplyTo: { mailbox: item.mailbox, uid: item.uid },
    });
  };
  const newMessage = () => {
    const accountId = filter?.accountId ?? store.accounts[0]?.id;
    if (!accountId) return setNotice('Add an account first.');
    setCompose({ accountId, to: '', cc: '', subject: '', text: '' });
  };

  const move = (delta: number) => {
    if (items.length === 0) return;
    const index = selected ? items.findIndex((m) => m.key === selected.key) : -1;
    const next = items[Math.min(items.length - 1, Math.max(0, index + delta))];
    open(next);
    document.getElementById(`msg-${cssId(next.key)}`)?.focus();
  };

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement;
      if (compose || adding || e.ctrlKey || e.metaKey || e.altKey || target.closest('input, textarea, select, [contenteditable]')) return;
      const actions: Record<string, () => void> = {
        j: () => move(1),
        k: () => move(-1),
        r: () => selected && reply(selected),
        c: newMessage,
        u: () => selected && store.markUnseen(selected).catch((err: unknown) => setNotice(describeError(err))),
        '#': () => selected && remove(selected),
        Delete: () => selected && remove(selected),
        e: () => selected && archive(selected),
        v: () => selected && document.getElementById('move-to')?.focus(),
        Escape: () => setSelectedKey(null),
      };
      const action = actions[e.key];
      if (action) {
        e.preventDefault();
        action();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  });

  return (
    <div class={`app ${selected ? 'has-selection' : ''} ${menuOpen ? 'menu-open' : ''}`}>
      {/* While a dialog is open, the page behind it takes no focus and no clicks. */}
      <header class="topbar" inert={dialogOpen}>
        <button type="button" class="icon menu-toggle" aria-label="Mailboxes" aria-expanded={menuOpen} onClick={() => setMenuOpen(!menuOpen)}>
          <MenuIcon />
        </button>
        <h1 class="brand">
          <span class="logo" aria-hidden="true" />
          pushmail
        </h1>
        <ConnectionIndicator status={store.connection} />
        <span class="spacer" />
        {permission === 'default' && (
          <button
            type="button"
            class="quiet"
            aria-label="Notify me of new mail"
            onClick={async () => setPermission(await requestNotificationPermission())}
            title="Get a notification when mail arrives while this tab is in the background"
          >
            <BellIcon /> <span class="label">Notify me</span>
          </button>
        )}
        <button type="button" class="primary" onClick={newMessage} title="New message (c)">
          Compose
        </button>
        <button type="button" class="quiet" onClick={() => onSignOut()}>
          Sign out
        </button>
      </header>
      <main class="main" inert={dialogOpen}>
        <Sidebar
          store={store}
          selected={filter}
          onSelect={(ref) => {
            setFilter(ref);
            setMenuOpen(false);
          }}
          onAddAccount={() => {
            setAdding(true);
            setMenuOpen(false);
          }}
          onRemoveAccount={(accountId, email) => {
            if (!confirm(`Remove ${email} from pushmail? Mail stays on the server.`)) return;
            if (filter?.accountId === accountId) setFilter(null);
            store.removeAccount(accountId).catch((err: unknown) => setNotice(`Could not remove ${email}: ${describeError(err)}`));
          }}
        />
        <MessageList
          items={items}
          selectedKey={selected?.key ?? null}
          title={title}
          unread={store.unread(filter ?? undefined)}
          accountLabel={(id) => (store.accounts.length > 1 && !filter ? accountEmail(id) : null)}
          onOpen={open}
          folder={
            filter
              ? {
                  hasMore: store.hasMore(filter),
                  loading: store.isLoading(filter) || Boolean(searching?.loading),
                  onLoadMore: () => store.loadMore(filter).catch((err: unknown) => setNotice(`Could not list older mail: ${describeError(err)}`)),
                  searchText: searching?.text ?? null,
                  onSearch: (text) => void store.runSearch(filter, text),
                  onClearSearch: () => store.clearSearch(),
                }
              : undefined
          }
        />
        <Reader
          item={selected}
          gatewayOrigin={store.gatewayUrl}
          api={store.api}
          accountEmail={selected ? accountEmail(selected.accountId) : null}
          onReply={reply}
          onMarkUnread={(item) => store.markUnseen(item).catch((err: unknown) => setNotice(describeError(err)))}
          onMarkRead={(item) => store.markSeen(item).catch((err: unknown) => setNotice(describeError(err)))}
          onDelete={remove}
          onArchive={archive}
          onMove={moveTo}
          folders={folderPaths}
          onBack={() => setSelectedKey(null)}
        />
      </main>
      {notice && (
        <div class="toast" role="alert" onClick={() => setNotice(null)}>
          {notice}
        </div>
      )}
      {compose && <Compose store={store} accounts={store.accounts} draft={compose} onClose={() => setCompose(null)} />}
      {adding && <AddAccount store={store} onClose={() => setAdding(false)} />}
    </div>
  );
}
