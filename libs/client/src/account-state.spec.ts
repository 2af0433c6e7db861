import { newerAccountState } from './account-state';

describe('newerAccountState', () => {
  it('keeps a newer event when an older view arrives after it', () => {
    const event = { state: 'connected' as const, stateVersion: 3 };
    expect(newerAccountState(event, { state: 'connecting', stateVersion: 2 })).toBe(event);
  });

  it('takes a report with the same or a higher counter', () => {
    const view = { state: 'connected' as const, stateVersion: 3 };
    expect(newerAccountState({ state: 'connecting', stateVersion: 2 }, view)).toBe(view);
    const same = { state: 'error' as const, error: 'boom', stateVersion: 3 };
    expect(newerAccountState(view, same)).toBe(same);
  });

  it('lets the client’s own conclusion win, and be replaced by the next server report', () => {
    const own = { state: 'error' as const, error: 'subscription refused' };
    expect(newerAccountState({ state: 'connected', stateVersion: 9 }, own)).toBe(own);
    const next = { state: 'connected' as const, stateVersion: 1 };
    expect(newerAccountState(own, next)).toBe(next);
  });

  it('takes the first report there is', () => {
    const first = { state: 'connecting' as const, stateVersion: 1 };
    expect(newerAccountState(undefined, first)).toBe(first);
  });
});
