import type { ImapFlow } from 'imapflow';
import { FolderStatus } from './folder-sync';

/*
 * NOTIFY (RFC 5465) on imapflow's command layer. imapflow has no NOTIFY API, but its command layer
 * is clean for this: exec() sends any command with typed attributes (quoting and literals are its
 * job) and resolves on the tagged reply, and unsolicited responses are dispatched by keyword through
 * its untaggedHandlers table, IDLE included. A module of our own would have to redo TLS, STARTTLS,
 * the login methods, COMPRESS and the response parser that the rest of the session uses, for one
 * command. Both members are untyped internals, so they are reached through the narrow, checked
 * interface below: an imapflow without them makes the session fall back to the sweep, not crash.
 */

/** One attribute as imapflow's command compiler takes it; arrays are parenthesized lists. */
export type WireAttribute = { type: 'ATOM' | 'STRING'; value: string } | WireAttribute[];

/** An unsolicited response as imapflow's parser hands it to untagged handlers. */
export interface UntaggedResponse {
  command: string;
  attributes?: unknown[];
}

export type UntaggedHandler = (untagged: UntaggedResponse) => Promise<void>;

export interface ImapCommandLayer {
  exec(command: string, attributes: WireAttribute[] | false, options?: object): Promise<{ next?: () => void }>;
  untaggedHandlers: Record<string, UntaggedHandler | null | undefined>;
}

/** imapflow's command layer, or undefined when this imapflow does not have it. */
export function commandLayer(client: ImapFlow): ImapCommandLayer | undefined {
  const c: object = client;
  if (!('exec' in c) || typeof c.exec !== 'function') return undefined;
  if (!('untaggedHandlers' in c) || typeof c.untaggedHandlers !== 'object' || c.untaggedHandlers === null) return undefined;
  return c as ImapCommandLayer;
}

const atom = (value: string): WireAttribute => ({ type: 'ATOM', value });
const MESSAGE_EVENTS = ['MessageNew', 'MessageExpunge', 'FlagChange'].map(atom);

/**
 * `NOTIFY SET (SELECTED (MessageNew MessageExpunge FlagChange)) (PERSONAL (MessageNew MessageExpunge
 * FlagChange MailboxName SubscriptionChange))`. PERSONAL rather than a list of the watched folders:
 * it covers folders created later without a new NOTIFY, and a folder's notification is one STATUS
 * line that the session drops when the folder is not watched. SELECTED wins for the selected folder
 * (RFC 5465 section 6), which thus reports EXISTS, EXPUNGE/VANISHED and FETCH as under IDLE.
 */
export function notifySetAttributes(): WireAttribute[] {
  return [atom('SET'), [atom('SELECTED'), MESSAGE_EVENTS], [atom('PERSONAL'), [...MESSAGE_EVENTS, atom('MailboxName'), atom('SubscriptionChange')]]];
}

function text(value: unknown): string | undefined {
  if (value && typeof value === 'object' && 'value' in value && typeof value.value === 'string') return value.value;
  return undefined;
}

/** `* STATUS <name> (MESSAGES n UIDNEXT n ...)` → the name as sent on the wire and its status. */
export function parseStatusResponse(untagged: UntaggedResponse): { wireName: string; status: FolderStatus } | undefined {
  const [name, list] = untagged.attributes ?? [];
  const wireName = text(name);
  if (wireName === undefined || !Array.isArray(list)) return undefined;
  const status: FolderStatus = {};
  for (let i = 0; i + 1 < list.length; i += 2) {
    const key = text(list[i])?.toUpperCase();
    const value = text(list[i + 1]);
    if (value === undefined || !/^\d+$/.test(value)) continue;
    if (key === 'MESSAGES') status.messages = Number(value);
    else if (key === 'UIDNEXT') status.uidNext = Number(value);
    else if (key === 'UIDVALIDITY') status.uidValidity = Number(value);
    else if (key === 'HIGHESTMODSEQ') status.highestModseq = value;
  }
  return { wireName, status };
}

/**
 * `* LIST (<flags>) <delimiter> <name> [("OLDNAME" (<old>))]` (NOTIFY MailboxName) → the names as
 * sent on the wire; `oldName` when the folder was renamed (RFC 5465 section 5.4).
 */
export function parseListName(untagged: UntaggedResponse): { name: string; oldName?: string } | undefined {
  const name = text(untagged.attributes?.[2]);
  if (name === undefined) return undefined;
  const extended = untagged.attributes?.[3];
  if (Array.isArray(extended)) {
    for (let i = 0; i + 1 < extended.length; i += 2) {
      const values: unknown = extended[i + 1];
      const old = Array.isArray(values) ? text(values[0]) : undefined;
      if (text(extended[i])?.toUpperCase() === 'OLDNAME' && old !== undefined) return { name, oldName: old };
    }
  }
  return { name };
}
