/** The parts of the original message a reply is threaded on. */
export interface ReplyOriginal {
  messageId: string | null;
  references?: string[];
  subject: string;
}

export interface ReplyHeaders {
  inReplyTo?: string;
  references?: string[];
  subject: string;
}

const RE_PREFIX = /^\s*re\s*:/i;

/**
 * RFC 5322 §3.6.4 threading: In-Reply-To is the original's Message-ID, References its References
 * plus its Message-ID. The subject gets one `Re:`, never `Re: Re:`.
 */
export function replyHeaders(subject: string, original: ReplyOriginal): ReplyHeaders {
  const base = subject.trim() ? subject : original.subject;
  const replySubject = RE_PREFIX.test(base) ? base : `Re: ${base}`;
  if (!original.messageId) return { subject: replySubject };
  const references = [...(original.references ?? []).filter((r) => r !== original.messageId), original.messageId];
  return { inReplyTo: original.messageId, references, subject: replySubject };
}
