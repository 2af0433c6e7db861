import type { ConnectionStatus } from '@pushmail/client';
import { useEffect, useState } from 'preact/hooks';

const labels = { live: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…', offline: 'Offline' } as const;

export function ConnectionIndicator(props: { status: ConnectionStatus }) {
  const [browserOnline, setBrowserOnline] = useState(navigator.onLine);
  useEffect(() => {
    const update = () => setBrowserOnline(navigator.onLine);
    window.addEventListener('online', update);
    window.addEventListener('offline', update);
    return () => {
      window.removeEventListener('online', update);
      window.removeEventListener('offline', update);
    };
  }, []);
  const state = browserOnline ? props.status.state : 'offline';
  const title = state === 'live' ? 'Connected: new mail appears as it arrives' : (props.status.error ?? labels[state]);
  return (
    <span class={`conn conn-${state}`} role="status" aria-live="polite" title={title} data-testid="connection">
      <span class="dot" aria-hidden="true" />
      {labels[state]}
    </span>
  );
}
