import { formatAddress, formatWhen } from './format';
import { PaperclipIcon } from './icons';
import { SEEN, type MailItem } from './mail-store';

export function MessageList(props: {
  items: MailItem[];
  selectedKey: string | null;
  title: string;
  unread: number;
  accountLabel: (accountId: string) => string | null;
  onOpen: (item: MailItem) => void;
  /** A folder is open: it can be searched and scrolled back. */
  folder?: {
    hasMore: boolean;
    loading: boolean;
    onLoadMore: () => void;
    searchText: string | null;
    onSearch: (text: string) => void;
    onClearSearch: () => void;
  };
}) {
  const folder = props.folder;
  // Older mail is listed as the end of the list comes into view.
  const onScroll = (e: Event) => {
    const el = e.currentTarget as HTMLElement;
    if (folder && folder.hasMore && !folder.loading && folder.searchText === null && el.scrollTop + el.clientHeight >= el.scrollHeight - 200) folder.onLoadMore();
  };
  return (
    <section class="list" aria-label="Messages">
      <header class="list-head">
        <h2>{props.title}</h2>
        <span class="muted small" data-testid="unread-count">
          {props.unread > 0 ? `${props.unread} unread` : 'all read'}
        </span>
      </header>
      {folder && (
        <form
          class="search"
          role="search"
          onSubmit={(e) => {
            e.preventDefault();
            const text = String(new FormData(e.currentTarget).get('q') ?? '').trim();
            if (text) folder.onSearch(text);
            else folder.onClearSearch();
          }}
        >
          <input name="q" type="search" aria-label="Search this folder" placeholder="Search this folder" defaultValue={folder.searchText ?? ''} key={folder.searchText ?? ''} />
          {folder.searchText !== null && (
            <button type="button" class="quiet" onClick={folder.onClearSearch}>
              Clear search
            </button>
          )}
        </form>
      )}
      {props.items.length === 0 ? (
        <p class="empty muted">{folder?.loading ? 'Loading…' : folder?.searchText != null ? 'Nothing found.' : 'No messages yet. New mail appears here the moment it arrives.'}</p>
      ) : (
        <ul class="messages" data-testid="message-list" onScroll={onScroll}>
          {props.items.map((m) => {
            const unread = !m.flags.includes(SEEN);
            const selected = m.key === props.selectedKey;
            const account = props.accountLabel(m.accountId);
            return (
              <li key={m.key}>
                <button
                  type="button"
                  id={`msg-${cssId(m.key)}`}
                  class={`msg${unread ? ' unread' : ''}${m.fresh ? ' fresh' : ''}${selected ? ' selected' : ''}`}
                  aria-current={selected ? 'true' : undefined}
                  data-uid={m.uid}
                  onClick={() => props.onOpen(m)}
                >
                  <span class="msg-top">
                    <span class="msg-from">{formatAddress(m.from)}</span>
                    <time class="msg-when" dateTime={m.date ?? m.receivedAt}>
                      {formatWhen(m.date ?? m.receivedAt)}
                    </time>
                  </span>
                  <span class="msg-subject">
                    {unread && <span class="unread-dot" aria-label="unread" />}
                    {(m.hasAttachments || m.attachments.some((a) => !a.inline)) && (
                      <span class="clip" aria-label="has attachments">
                        <PaperclipIcon size={13} />
                      </span>
                    )}
                    {m.subject || '(no subject)'}
                  </span>
                  <span class="msg-preview">{m.preview}</span>
                  {account && <span class="msg-account">{account}</span>}
                </button>
              </li>
            );
          })}
        </ul>
      )}
      {folder && folder.searchText === null && folder.hasMore && props.items.length > 0 && (
        <button type="button" class="link-button load-more" disabled={folder.loading} onClick={folder.onLoadMore}>
          {folder.loading ? 'Loading…' : 'Load older messages'}
        </button>
      )}
    </section>
  );
}

export const cssId = (key: string) => key.replace(/[^A-Za-z0-9_-]/g, '_');
