import { createContext, useContext, useEffect, useState, useSyncExternalStore } from 'react';
import type { ChatController } from '../store/controller';
import type { ChatState } from '../store/state';

export const ControllerContext = createContext<ChatController | null>(null);

export function useController(): ChatController {
  const c = useContext(ControllerContext);
  if (!c) throw new Error('ChatController missing: wrap the tree in <ControllerContext.Provider>');
  return c;
}

/** Subscribes to a slice of the chat state. The selector must return stored values, not new objects. */
export function useChat<T>(selector: (s: ChatState) => T): T {
  const ctl = useController();
  return useSyncExternalStore(ctl.store.subscribe, () => selector(ctl.store.getState()));
}

export function useMediaQuery(query: string): boolean {
  const get = () => (typeof window !== 'undefined' && typeof window.matchMedia === 'function' ? window.matchMedia(query).matches : false);
  const [matches, setMatches] = useState(get);
  useEffect(() => {
    if (typeof window.matchMedia !== 'function') return;
    const mql = window.matchMedia(query);
    const on = () => setMatches(mql.matches);
    on();
    mql.addEventListener?.('change', on);
    return () => mql.removeEventListener?.('change', on);
  }, [query]);
  return matches;
}

/** Re-renders every `ms` (for relative times). */
export function useNow(ms: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** The value, updated only after it stopped changing for `ms`. */
export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}
