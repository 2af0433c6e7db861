import { isLoginRefused } from './login-refused';

describe('isLoginRefused', () => {
  it('is true for a refused login, false for a transient answer or another error', () => {
    expect(isLoginRefused(Object.assign(new Error('Command failed'), { authenticationFailed: true, serverResponseCode: 'AUTHENTICATIONFAILED' }))).toBe(true);
    expect(isLoginRefused(Object.assign(new Error('Command failed'), { authenticationFailed: true }))).toBe(true);
    expect(isLoginRefused(Object.assign(new Error('Command failed'), { authenticationFailed: true, serverResponseCode: 'unavailable' }))).toBe(false);
    expect(isLoginRefused(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(false);
    expect(isLoginRefused(undefined)).toBe(false);
  });
});
