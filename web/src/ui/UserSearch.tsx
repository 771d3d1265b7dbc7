import { useEffect, useState } from 'react';
import type { User } from '../sdk/types';
import { errorText } from './AuthScreen';
import { Avatar } from './Avatar';
import { useController, useDebounced } from './hooks';

/** Search box over GET /users/search with a list of results rendered by the caller. */
export function UserSearch({
  label,
  exclude = [],
  renderAction,
}: {
  label: string;
  exclude?: string[];
  renderAction: (u: User) => React.ReactNode;
}) {
  const ctl = useController();
  const [q, setQ] = useState('');
  const query = useDebounced(q.trim(), 250);
  const [results, setResults] = useState<User[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);

  useEffect(() => {
    if (!query) {
      setResults([]);
      return;
    }
    let cancelled = false;
    setLoading(true);
    ctl
      .searchUsers(query)
      .then((users) => {
        if (!cancelled) {
          setResults(users);
          setError(null);
        }
      })
      .catch((err: unknown) => !cancelled && setError(errorText(err)))
      .finally(() => !cancelled && setLoading(false));
    return () => {
      cancelled = true;
    };
  }, [query, ctl]);

  const shown = results.filter((u) => !exclude.includes(u.id));
  return (
    <div className="user-search">
      <label>
        {label}
        <input
          type="search"
          value={q}
          onChange={(e) => setQ(e.target.value)}
          placeholder="Name or username"
          data-testid="user-search"
          autoComplete="off"
        />
      </label>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <ul className="user-results" aria-busy={loading} aria-label="People found">
        {shown.map((u) => (
          <li key={u.id} className="user-result" data-testid="user-result" data-username={u.username}>
            <Avatar name={u.displayName || u.username} seed={u.id} url={u.avatarUrl} size={32} />
            <span className="user-names">
              <span>{u.displayName || u.username}</span>
              <span className="muted">@{u.username}</span>
            </span>
            {renderAction(u)}
          </li>
        ))}
        {query && !loading && shown.length === 0 && !error && <li className="muted">Nobody found.</li>}
      </ul>
    </div>
  );
}
