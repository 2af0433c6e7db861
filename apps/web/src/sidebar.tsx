import { ConnectionFailureCodeSchema, connectionFailureMessages } from '@pushmail/contracts';
import type { FolderRef, MailStore } from './mail-store';

/**
 * The account's folders as the server lists them (special folders first, children indented under
 * their parent), or the watched ones from the account view until that list has arrived. The
 * unread count is the server's; a watched folder's loaded unread mail counts when that is more.
 */
function folderRows(store: MailStore, accountId: string, watched: string[]) {
  const listed = store.folders.get(accountId);
  if (!listed) return watched.map((path) => ({ path, label: path === 'INBOX' ? 'Inbox' : path, depth: 0, unread: store.unread({ accountId, mailbox: path }) }));
  return listed.map((f) => ({
    path: f.path,
    label: f.specialUse === '\\Inbox' ? 'Inbox' : f.name,
    depth: f.delimiter ? f.path.split(f.delimiter).length - 1 : 0,
    unread: Math.max(f.unseen ?? 0, store.unread({ accountId, mailbox: f.path })),
  }));
}

const stateLabels: Record<string, string> = {
  connecting: 'connecting',
  connected: 'connected',
  auth_failed: 'sign-in failed',
  error: 'error',
  disconnected: 'disconnected',
};

/** The account error is a category code (never server text); show its fixed sentence. */
function describeError(error: string | undefined): string | undefined {
  if (error === undefined) return undefined;
  const code = ConnectionFailureCodeSchema.safeParse(error);
  return code.success ? connectionFailureMessages[code.data] : error;
}

export function Sidebar(props: {
  store: MailStore;
  selected: FolderRef | null;
  onSelect: (ref: FolderRef | null) => void;
  onAddAccount: () => void;
  onRemoveAccount: (accountId: string, email: string) => void;
}) {
  const { store, selected } = props;
  const allUnread = store.unread();
  return (
    <nav class="sidebar" aria-label="Mailboxes">
      <button type="button" class={`mbox ${selected === null ? 'active' : ''}`} aria-current={selected === null ? 'true' : undefined} onClick={() => props.onSelect(null)}>
        <span class="mbox-name">All inboxes</span>
        {allUnread > 0 && <span class="badge" aria-label={`${allUnread} unread`}>{allUnread}</span>}
      </button>
      <h2 class="sidebar-title">Accounts</h2>
      {store.accountsError && <p class="error small">Could not load accounts: {store.accountsError}</p>}
      {store.accountsLoaded && store.accounts.length === 0 && <p class="muted small">No accounts yet.</p>}
      <ul class="accounts">
        {store.accounts.map((account) => {
          const st = store.accountStates.get(account.id) ?? { state: account.state, error: account.error };
          return (
            <li key={account.id}>
              <div class="account-head" title={describeError(st.error) ?? stateLabels[st.state]}>
                {account.delivery === 'poll' ? (
                  // Polled (POP3, or IMAP without IDLE): say so instead of showing the live dot.
                  <span class={`poll-badge small muted state-${st.state}`}>{account.pollIntervalSeconds ? `checked every ${account.pollIntervalSeconds} s` : 'checked periodically'}</span>
                ) : (
                  <span class={`state-dot state-${st.state}`} aria-hidden="true" />
                )}
                <span class="account-email">{account.email}</span>
                <button type="button" class="icon remove" aria-label={`Remove ${account.email}`} title="Remove this account" onClick={() => props.onRemoveAccount(account.id, account.email)}>
                  ✕
                </button>
              </div>
              {st.state !== 'connected' && <div class={`account-state small ${st.state === 'connecting' ? 'muted' : 'error'}`}>{describeError(st.error) ?? stateLabels[st.state]}</div>}
              <ul class="folders" aria-label={`Folders of ${account.email}`}>
                {folderRows(store, account.id, account.mailboxes).map(({ path, label, depth, unread }) => {
                  const ref = { accountId: account.id, mailbox: path };
                  const active = selected?.accountId === account.id && selected.mailbox === path;
                  return (
                    <li key={path}>
                      <button
                        type="button"
                        class={`mbox sub ${active ? 'active' : ''}`}
                        style={depth ? { paddingLeft: `${1.5 + depth}rem` } : undefined}
                        data-folder={path}
                        aria-current={active ? 'true' : undefined}
                        onClick={() => props.onSelect(ref)}
                      >
                        <span class="mbox-name">{label}</span>
                        {unread > 0 && <span class="badge" aria-label={`${unread} unread`}>{unread}</span>}
                      </button>
                    </li>
                  );
                })}
              </ul>
            </li>
          );
        })}
      </ul>
      <button type="button" class="link-button" onClick={props.onAddAccount}>
        + Add account
      </button>
    </nav>
  );
}
