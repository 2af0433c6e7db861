import type { PushmailHttpApi } from '@pushmail/client';
import { partPath } from '@pushmail/contracts';
import { useMemo, useState } from 'preact/hooks';
import { formatAddressFull, formatSize } from './format';
import { PaperclipIcon } from './icons';
import { SEEN, type MailItem } from './mail-store';
import { frameMessageHtml, frameMessageText } from './message-frame';

export function Reader(props: {
  item: MailItem | null;
  gatewayOrigin: string;
  token: string;
  api: PushmailHttpApi;
  accountEmail: string | null;
  onReply: (item: MailItem) => void;
  onMarkUnread: (item: MailItem) => void;
  onBack: () => void;
}) {
  const { item } = props;
  if (!item) {
    return (
      <section class="reader reader-empty" aria-label="Message">
        <p class="muted">Select a message to read it.</p>
      </section>
    );
  }
  return <MessageView key={item.key} {...props} item={item} />;
}

function MessageView(props: Parameters<typeof Reader>[0] & { item: MailItem }) {
  const { item, token, gatewayOrigin, api } = props;
  const [allowRemote, setAllowRemote] = useState(false);
  // Links and images cannot send an Authorization header, so the token rides in `access_token`.
  const withToken = (url: string) => api.withToken(url, token);
  const framed = useMemo(() => {
    if (!item.html) return { srcdoc: frameMessageText(item.text || item.preview || ''), blockedRemote: 0 };
    return frameMessageHtml(item.html, { gatewayOrigin, allowRemote, authorizePartUrl: (url) => api.withToken(url, token) });
  }, [item.html, item.text, item.preview, allowRemote, token, gatewayOrigin, api]);
  const attachments = item.attachments.filter((a) => !a.inline || !item.html);
  const seen = item.flags.includes(SEEN);

  return (
    <section class="reader" aria-label="Message">
      <div class="reader-actions">
        <button type="button" class="back" onClick={props.onBack} aria-label="Back to the list">
          ← Back
        </button>
        <button type="button" class="primary" onClick={() => props.onReply(item)} title="Reply (r)">
          Reply
        </button>
        {seen && (
          <button type="button" onClick={() => props.onMarkUnread(item)} title="Mark unread (u)">
            Mark unread
          </button>
        )}
      </div>
      <header class="reader-head">
        <h2 data-testid="reader-subject">{item.subject || '(no subject)'}</h2>
        <dl>
          <dt>From</dt>
          <dd>{item.from ? formatAddressFull(item.from) : '(unknown sender)'}</dd>
          {item.to.length > 0 && (
            <>
              <dt>To</dt>
              <dd>{item.to.map(formatAddressFull).join(', ')}</dd>
            </>
          )}
          {item.cc.length > 0 && (
            <>
              <dt>Cc</dt>
              <dd>{item.cc.map(formatAddressFull).join(', ')}</dd>
            </>
          )}
          <dt>Date</dt>
          <dd>{new Date(item.date ?? item.receivedAt).toLocaleString()}</dd>
          {props.accountEmail && (
            <>
              <dt>Account</dt>
              <dd>
                {props.accountEmail} · {item.mailbox}
              </dd>
            </>
          )}
        </dl>
      </header>
      {framed.blockedRemote > 0 && !allowRemote && (
        <div class="remote-banner" role="note">
          <span>Remote images are hidden, so the sender cannot see when you read this.</span>
          <button type="button" onClick={() => setAllowRemote(true)}>
            Show images
          </button>
        </div>
      )}
      {item.parseWarnings && item.parseWarnings.length > 0 && <p class="muted small">Parts of this message could not be read: {item.parseWarnings.join('; ')}</p>}
      <iframe
        class="body-frame"
        title={`Message: ${item.subject}`}
        // No allow-scripts and no allow-same-origin: the message can neither run code nor reach this page.
        sandbox="allow-popups allow-popups-to-escape-sandbox"
        referrerpolicy="no-referrer"
        srcdoc={framed.srcdoc}
        data-testid="message-frame"
      />
      {attachments.length > 0 && (
        <ul class="attachments" aria-label="Attachments">
          {attachments.map((a) => (
            <li key={a.partId}>
              <a href={withToken(partPath(item.accountId, item.mailbox, item.uid, a.partId))} download={a.filename ?? `part-${a.partId}`} rel="noopener">
                <PaperclipIcon /> {a.filename ?? `part ${a.partId}`}
              </a>
              <span class="muted small">
                {' '}
                {a.contentType}, {formatSize(a.size)}
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
