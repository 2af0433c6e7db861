import type { PushmailHttpApi } from '@pushmail/client';
import { partPath } from '@pushmail/contracts';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { formatAddressFull, formatSize } from './format';
import { PaperclipIcon } from './icons';
import { SEEN, type MailItem } from './mail-store';
import { frameMessageHtml, frameMessageText } from './message-frame';

export function Reader(props: {
  item: MailItem | null;
  gatewayOrigin: string;
  api: PushmailHttpApi;
  accountEmail: string | null;
  onReply: (item: MailItem) => void;
  onMarkUnread: (item: MailItem) => void;
  onMarkRead: (item: MailItem) => void;
  onDelete: (item: MailItem) => void;
  onArchive: (item: MailItem) => void;
  onMove: (item: MailItem, to: string) => void;
  /** Folder paths the message can be moved to. */
  folders: string[];
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
  const { item, gatewayOrigin, api } = props;
  const [allowRemote, setAllowRemote] = useState(false);
  const { links: inlineLinks, ready: inlineReady } = useInlinePartLinks(item, gatewayOrigin, api, allowRemote);
  const framed = useMemo(() => {
    if (!item.html) return { srcdoc: frameMessageText(item.text || item.preview || ''), blockedRemote: 0 };
    // The frame gets signed links only (one part, minutes long), never the client token: whatever
    // the message manages inside its frame, it holds nothing that outlives them. A part not signed
    // (yet) gets no src at all.
    return frameMessageHtml(item.html, { gatewayOrigin, allowRemote, authorizePartUrl: (url) => inlineLinks.get(url) ?? '' });
  }, [item.html, item.text, item.preview, allowRemote, gatewayOrigin, inlineLinks]);
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
        {seen ? (
          <button type="button" onClick={() => props.onMarkUnread(item)} title="Mark unread (u)">
            Mark unread
          </button>
        ) : (
          <button type="button" onClick={() => props.onMarkRead(item)} title="Mark read">
            Mark read
          </button>
        )}
        <button type="button" onClick={() => props.onArchive(item)} title="Archive (e)">
          Archive
        </button>
        <button type="button" onClick={() => props.onDelete(item)} title="Delete (# or Delete)">
          Delete
        </button>
        <select
          id="move-to"
          class="move-to"
          aria-label="Move to folder (v)"
          value=""
          onChange={(e) => {
            const to = e.currentTarget.value;
            e.currentTarget.value = '';
            if (to) props.onMove(item, to);
          }}
        >
          <option value="">Move to…</option>
          {props.folders
            .filter((f) => f !== item.mailbox)
            .map((f) => (
              <option key={f} value={f}>
                {f}
              </option>
            ))}
        </select>
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
      {item.summaryOnly && <p class="muted small">Loading the message…</p>}
      {item.parseWarnings && item.parseWarnings.length > 0 && <p class="muted small">Parts of this message could not be read: {item.parseWarnings.join('; ')}</p>}
      {!inlineReady && <p class="muted small">Loading images…</p>}
      {/* Rendered once its inline links are signed, so its first srcdoc is its last: navigating a
          sandboxed frame again while it is still loading its first document left it blank at times
          (Chromium runs sandboxed frames in a process of their own). */}
      {inlineReady && <iframe
        class="body-frame"
        title={`Message: ${item.subject}`}
        // No allow-scripts and no allow-same-origin: the message can neither run code nor reach this page.
        sandbox="allow-popups allow-popups-to-escape-sandbox"
        referrerpolicy="no-referrer"
        srcdoc={framed.srcdoc}
        data-testid="message-frame"
      />}
      {attachments.length > 0 && (
        <ul class="attachments" aria-label="Attachments">
          {attachments.map((a) => (
            <li key={a.partId}>
              <a
                href={partPath(item.accountId, item.mailbox, item.uid, a.partId)}
                download={a.filename ?? `part-${a.partId}`}
                rel="noopener"
                onClick={(e) => {
                  // A link cannot send the token: a signed link is fetched at the click (it lives minutes only).
                  e.preventDefault();
                  void downloadPart(api, item, a.partId, a.filename ?? `part-${a.partId}`);
                }}
              >
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

async function downloadPart(api: PushmailHttpApi, item: MailItem, partId: string, filename: string): Promise<void> {
  try {
    const link = await api.partLink(item.accountId, item.mailbox, item.uid, partId);
    const a = document.createElement('a');
    a.href = link.url;
    a.download = filename;
    a.rel = 'noopener';
    a.click();
  } catch (err) {
    console.warn('could not get a download link', err);
  }
}

/**
 * Signed links for the message's inline parts (the `cid:` images the fetcher pointed at the
 * gateway), keyed by the absolute part URL found in the HTML. The frame loads its images once; the
 * links are fetched again whenever it is rebuilt (`allowRemote`), as the old ones may have expired.
 * They are not renewed on a timer: a new srcdoc would reload the frame under the reader's eyes.
 */
function useInlinePartLinks(item: MailItem, gatewayOrigin: string, api: PushmailHttpApi, allowRemote: boolean): { links: Map<string, string>; ready: boolean } {
  // `signedFor` names the request the links answer (parts and allowRemote), so a rebuild waits for its own links.
  const [state, setState] = useState<{ links: Map<string, string>; signedFor: string | null }>(() => ({ links: new Map(), signedFor: null }));
  const html = item.html;
  // Inline parts, and any other part the HTML points at (a `cid:` on a part sent as an attachment).
  const partIds = html ? item.attachments.filter((a) => a.inline || html.includes(partPath(item.accountId, item.mailbox, item.uid, a.partId))).map((a) => a.partId) : [];
  const key = partIds.join(',');
  const request = `${key}|${allowRemote}`;
  useEffect(() => {
    if (!partIds.length) return;
    let cancelled = false;
    const load = async () => {
      const results = await Promise.allSettled(partIds.map((partId) => api.partLink(item.accountId, item.mailbox, item.uid, partId)));
      if (cancelled) return;
      const next = new Map<string, string>();
      results.forEach((r, i) => {
        if (r.status === 'fulfilled') next.set(new URL(partPath(item.accountId, item.mailbox, item.uid, partIds[i]), gatewayOrigin).href, r.value.url);
      });
      // A part whose link could not be had gets no src (never the token); the frame shows the rest.
      setState({ links: next, signedFor: request });
    };
    void load();
    return () => {
      cancelled = true;
    };
    // partIds is derived from `key`; the effect re-runs when the parts (or the message) change.
  }, [key, item.accountId, item.mailbox, item.uid, gatewayOrigin, api, allowRemote]);
  return { links: state.links, ready: partIds.length === 0 || state.signedFor === request };
}
