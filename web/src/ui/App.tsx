import { useEffect, useMemo, useState } from 'react';
import { LocalSessionStore, RestClient, type Session } from '../sdk/rest';
import { ChatController } from '../store/controller';
import { AuthScreen } from './AuthScreen';
import { ChatApp } from './ChatApp';
import { ControllerContext } from './hooks';

export interface AppProps {
  /** Injected in tests; by default REST at /api/v1 on this origin with the session in localStorage. */
  api?: RestClient;
  socketUrl?: string;
}

export function App({ api: injected, socketUrl }: AppProps) {
  const api = useMemo(() => injected ?? new RestClient({ store: new LocalSessionStore() }), [injected]);
  const [session, setSession] = useState<Session | null>(() => api.getSession());
  useEffect(() => {
    setSession(api.getSession());
    return api.subscribeSession(setSession);
  }, [api]);

  // Signing out in another tab signs out here too.
  useEffect(() => {
    const onStorage = (e: StorageEvent) => {
      if (e.key === 'parley.session' && e.newValue === null) window.location.reload();
    };
    window.addEventListener('storage', onStorage);
    return () => window.removeEventListener('storage', onStorage);
  }, []);

  // One controller per signed-in user; a token refresh keeps it.
  const userId = session?.user.id ?? null;
  const controller = useMemo(
    () => (userId ? new ChatController({ api, socketUrl, onSessionEnded: () => setSession(null) }) : null),
    [userId, api, socketUrl],
  );
  useEffect(() => {
    if (!controller) return;
    controller.start().catch(() => setSession(api.getSession()));
    return () => controller.stop();
  }, [controller, api]);

  if (!session || !controller) return <AuthScreen api={api} />;
  return (
    <ControllerContext.Provider value={controller}>
      <ChatApp />
    </ControllerContext.Provider>
  );
}
