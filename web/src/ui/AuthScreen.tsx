import { useState, type FormEvent } from 'react';
import { ApiError, type RestClient } from '../sdk/rest';

const MESSAGES: Record<string, string> = {
  invalid_credentials: 'Wrong username or password.',
  username_taken: 'That username is already taken.',
  rate_limited: 'Too many attempts. Please wait a moment.',
  unavailable: 'The server cannot be reached. Check your connection.',
  blocked: 'You can’t message this person.',
};

export function errorText(err: unknown): string {
  if (err instanceof ApiError) return MESSAGES[err.code] ?? err.message ?? 'Something went wrong.';
  return 'Something went wrong.';
}

/** Sign in / create account. */
export function AuthScreen({ api }: { api: RestClient }) {
  const [mode, setMode] = useState<'login' | 'register'>('login');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      if (mode === 'login') await api.login({ username: username.trim(), password });
      else await api.register({ username: username.trim(), password, displayName: displayName.trim() || undefined });
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };

  const register = mode === 'register';
  return (
    <main className="auth-screen">
      <form className="auth-card" onSubmit={submit} data-testid="auth-form" aria-labelledby="auth-title">
        <svg className="brand" width="40" height="40" viewBox="0 0 24 24" aria-hidden="true">
          <path fill="var(--accent)" d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z" />
          <path fill="#fff" d="M7 9h10v1.6H7zM7 12.2h7v1.6H7z" />
        </svg>
        <h1 id="auth-title">{register ? 'Create your Parley account' : 'Sign in to Parley'}</h1>
        <label>
          Username
          <input
            data-testid="auth-username"
            autoComplete="username"
            value={username}
            onChange={(e) => setUsername(e.target.value)}
            required
            minLength={register ? 3 : 1}
            maxLength={64}
            autoFocus
          />
        </label>
        {register && (
          <label>
            Display name <span className="muted">(optional)</span>
            <input
              data-testid="auth-displayname"
              autoComplete="name"
              value={displayName}
              onChange={(e) => setDisplayName(e.target.value)}
              maxLength={80}
            />
          </label>
        )}
        <label>
          Password
          <input
            data-testid="auth-password"
            type="password"
            autoComplete={register ? 'new-password' : 'current-password'}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
            minLength={register ? 8 : 1}
          />
        </label>
        {error && (
          <p className="form-error" role="alert" data-testid="auth-error">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy} data-testid="auth-submit">
          {busy ? 'Please wait…' : register ? 'Create account' : 'Sign in'}
        </button>
        <button
          type="button"
          className="link-button"
          data-testid="auth-toggle"
          onClick={() => {
            setMode(register ? 'login' : 'register');
            setError(null);
          }}
        >
          {register ? 'I already have an account' : 'Create an account'}
        </button>
      </form>
    </main>
  );
}
