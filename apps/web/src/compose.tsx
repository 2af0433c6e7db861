import { useEffect, useRef, useState } from 'preact/hooks';
import type { AccountView } from '@pushmail/contracts';
import { formatSize, parseAddressList } from './format';
import { PaperclipIcon } from './icons';
import type { MailStore, SendState } from './mail-store';
import { useRestoreFocus } from './use-store';

export interface ComposeDraft {
  accountId: string;
  to: string;
  cc: string;
  subject: string;
  text: string;
  inReplyTo?: { mailbox: string; uid: number };
}

const newLocalId = () => (typeof crypto.randomUUID === 'function' ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`);

export function Compose(props: { store: MailStore; accounts: AccountView[]; draft: ComposeDraft; onClose: () => void }) {
  const [draft, setDraft] = useState(props.draft);
  const [localId, setLocalId] = useState<string | null>(null);
  const [inputError, setInputError] = useState<string | null>(null);
  const [files, setFiles] = useState<File[]>([]);
  const firstField = useRef<HTMLInputElement>(null);
  const bodyField = useRef<HTMLTextAreaElement>(null);
  useRestoreFocus();
  const send: SendState | undefined = localId ? props.store.sends.get(localId) : undefined;
  const busy = send?.status === 'sending';

  useEffect(() => {
    // A reply already has its recipient: start typing the answer.
    if (props.draft.inReplyTo) {
      bodyField.current?.focus();
      bodyField.current?.setSelectionRange(0, 0);
    } else firstField.current?.focus();
  }, [props.draft.inReplyTo]);

  const onClose = useRef(props.onClose);
  onClose.current = props.onClose;
  useEffect(() => {
    if (send?.status !== 'sent') return;
    const t = setTimeout(() => onClose.current(), 1200);
    return () => clearTimeout(t);
  }, [send?.status]);

  const set = (field: keyof ComposeDraft) => (e: Event) => setDraft({ ...draft, [field]: (e.currentTarget as HTMLInputElement).value });

  const submit = async (e: Event) => {
    e.preventDefault();
    const to = parseAddressList(draft.to);
    const cc = parseAddressList(draft.cc);
    const bad = [...to, ...cc].find((a) => !/^[^\s@]+@[^\s@]+$/.test(a.address));
    if (to.length === 0) return setInputError('Add at least one recipient.');
    if (bad) return setInputError(`"${bad.address}" is not an e-mail address.`);
    setInputError(null);
    // A new attempt after a failure is a new message; a re-click while unanswered is not.
    const id = send && send.status !== 'failed' ? localId! : newLocalId();
    setLocalId(id);
    const attachments = await Promise.all(files.map(toAttachment));
    await props.store.send(
      {
        accountId: draft.accountId,
        to,
        ...(cc.length ? { cc } : {}),
        subject: draft.subject,
        text: draft.text,
        ...(draft.inReplyTo ? { inReplyTo: draft.inReplyTo } : {}),
        ...(attachments.length ? { attachments } : {}),
      },
      id,
    );
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === 'Escape' && !busy) {
      e.stopPropagation();
      props.onClose();
    }
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void submit(e);
  };

  return (
    <div class="overlay" onKeyDown={onKeyDown}>
      <form class="dialog compose" role="dialog" aria-modal="true" aria-labelledby="compose-title" onSubmit={submit}>
        <header class="dialog-head">
          <h2 id="compose-title">{draft.inReplyTo ? 'Reply' : 'New message'}</h2>
          <button type="button" class="icon" onClick={props.onClose} aria-label="Close" disabled={busy}>
            ✕
          </button>
        </header>
        {props.accounts.length > 1 && (
          <label>
            From
            <select value={draft.accountId} onChange={set('accountId')} disabled={!!draft.inReplyTo}>
              {props.accounts.map((a) => (
                <option key={a.id} value={a.id}>
                  {a.email}
                </option>
              ))}
            </select>
          </label>
        )}
        <label>
          To
          <input ref={firstField} type="text" name="to" value={draft.to} onInput={set('to')} autoComplete="email" required />
        </label>
        <label>
          Cc
          <input type="text" name="cc" value={draft.cc} onInput={set('cc')} autoComplete="email" />
        </label>
        <label>
          Subject
          <input type="text" name="subject" value={draft.subject} onInput={set('subject')} />
        </label>
        <label class="grow">
          Message
          <textarea ref={bodyField} name="text" rows={10} value={draft.text} onInput={set('text')} />
        </label>
        <div class="attach-row">
          <label class="file-button">
            <PaperclipIcon /> Attach files
            <input type="file" multiple onChange={(e) => setFiles([...files, ...Array.from(e.currentTarget.files ?? [])])} />
          </label>
          {files.map((f, i) => (
            <span class="chip" key={`${f.name}-${i}`}>
              {f.name} <span class="muted small">{formatSize(f.size)}</span>
              <button type="button" class="icon" aria-label={`Remove ${f.name}`} onClick={() => setFiles(files.filter((_, j) => j !== i))}>
                ✕
              </button>
            </span>
          ))}
        </div>
        <footer class="dialog-foot">
          <SendStatus send={send} inputError={inputError} />
          <button type="submit" class="primary" disabled={busy || send?.status === 'sent'} title="Send (Ctrl+Enter)">
            {busy ? 'Sending…' : send?.status === 'failed' ? 'Try again' : 'Send'}
          </button>
        </footer>
      </form>
    </div>
  );
}

function SendStatus(props: { send?: SendState; inputError: string | null }) {
  if (props.inputError) return <span class="send-state failed" role="alert">{props.inputError}</span>;
  const s = props.send;
  if (!s) return <span />;
  const text = s.status === 'sending' ? 'Sending…' : s.status === 'sent' ? 'Sent ✓' : `Not sent: ${s.error ?? 'unknown error'}`;
  return (
    <span class={`send-state ${s.status}`} role="status" aria-live="polite" data-testid="send-state">
      {text}
    </span>
  );
}

/** The contract carries attachments as base64; the gateway enforces the total size limit. */
async function toAttachment(file: File): Promise<{ filename: string; contentType: string; content: string }> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  const contentType = /^[\w.+-]+\/[\w.+-]+$/.test(file.type) ? file.type : 'application/octet-stream';
  return { filename: file.name.replace(/[\r\n]/g, ' '), contentType, content: btoa(binary) };
}
