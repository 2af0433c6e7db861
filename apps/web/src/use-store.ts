import { useEffect, useReducer } from 'preact/hooks';
import type { MailStore } from './mail-store';

/** Re-renders the calling component whenever the store changes. */
export function useStore(store: MailStore): void {
  const [, bump] = useReducer((n: number) => n + 1, 0);
  useEffect(() => store.subscribe(() => bump(undefined)), [store]);
}

/** A dialog gives focus back to what had it (the button that opened it) when it closes. */
export function useRestoreFocus(): void {
  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    return () => previous?.focus?.();
  }, []);
}
