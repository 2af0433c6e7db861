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
}) {
  return (
    <section class="list" aria-label="Messages">
      <header class="list-head">
        <h2>{props.title}</h2>
        <span class="muted small" data-testid="unread-count">
          {props.unread > 0 ? `${props.unread} unread` : 'all read'}
        </span>
      </header>
      {props.items.length === 0 ? (
        <p class="empty muted">No messages yet. New mail appears here the moment it arrives.</p>
      ) : (
        <ul class="messages" data-testid="message-list">
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
                    {m.attachments.some((a) => !a.inline) && (
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
    </section>
  );
}

export const cssId = (key: string) => key.replace(/[^A-Za-z0-9_-]/g, '_');
