import type { MailItem } from './mail-store';
import { formatAddress } from './format';

export type NotificationPermissionState = NotificationPermission | 'unsupported';

export function notificationPermission(): NotificationPermissionState {
  return typeof Notification === 'undefined' ? 'unsupported' : Notification.permission;
}

/** Asked only when the user presses the button: browsers (and people) dislike prompts on load. */
export async function requestNotificationPermission(): Promise<NotificationPermissionState> {
  if (typeof Notification === 'undefined') return 'unsupported';
  return Notification.requestPermission();
}

/** New mail while the tab is hidden: the push a user actually feels. */
export function notifyNewMail(item: MailItem, onClick: () => void): void {
  if (notificationPermission() !== 'granted' || !document.hidden) return;
  const n = new Notification(item.subject || '(no subject)', {
    body: `${formatAddress(item.from)}: ${item.preview}`.slice(0, 200),
    tag: item.key,
  });
  n.onclick = () => {
    window.focus();
    onClick();
    n.close();
  };
}
