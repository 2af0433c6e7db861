import { useState } from 'preact/hooks';

export function SignIn(props: { error?: string; onSignIn: (token: string) => void }) {
  const [token, setToken] = useState('');
  const submit = (e: Event) => {
    e.preventDefault();
    const t = token.trim();
    if (t) props.onSignIn(t);
  };
  return (
    <main class="signin">
      <form class="card" onSubmit={submit}>
        <h1>
          <span class="logo" aria-hidden="true" /> pushmail
        </h1>
        <p>Sign in with your client token. <code>npm start</code> prints a sign-in link with one for the local user.</p>
        {props.error && (
          <p class="error" role="alert">
            {props.error}
          </p>
        )}
        <label for="token">Token</label>
        <textarea id="token" rows={4} spellcheck={false} autoFocus value={token} onInput={(e) => setToken(e.currentTarget.value)} placeholder="eyJhbGciOiJIUzI1NiJ9…" />
        <button type="submit" class="primary" disabled={!token.trim()}>
          Sign in
        </button>
      </form>
    </main>
  );
}
