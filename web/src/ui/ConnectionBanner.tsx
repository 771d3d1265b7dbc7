import { useChat } from './hooks';

/** Shown whenever the live connection is not up; announced politely to screen readers. */
export function ConnectionBanner() {
  const state = useChat((s) => s.connection);
  const syncing = useChat((s) => s.syncing);
  const text =
    state === 'online'
      ? syncing
        ? 'Updating…'
        : ''
      : state === 'connecting'
        ? 'Connecting…'
        : state === 'reconnecting'
          ? 'Reconnecting…'
          : 'Offline — messages will be sent when you are back online';
  return (
    <div
      className={`connection-banner connection-${state}${text ? '' : ' connection-hidden'}`}
      role="status"
      aria-live="polite"
      data-testid="connection-banner"
      data-state={state}
    >
      {text}
    </div>
  );
}
