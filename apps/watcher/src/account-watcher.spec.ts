import { aggregateState } from './account-watcher';

describe('aggregateState', () => {
  it('reports the worst session', () => {
    expect(aggregateState(['connected', 'connected'])).toBe('connected');
    expect(aggregateState(['connected', 'connecting'])).toBe('connecting');
    expect(aggregateState(['connected', 'disconnected', 'connecting'])).toBe('disconnected');
    expect(aggregateState(['error', 'auth_failed'])).toBe('auth_failed');
  });
});
