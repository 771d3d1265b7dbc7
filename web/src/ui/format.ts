/** Date and time formatting for the chat UI (the viewer's locale and time zone). */

const TIME_FORMAT = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const timeCache = new Map<string, string>();

/** Local hh:mm. Formatting is costly and rows re-render often, so results are memoized. */
export function timeOf(iso: string): string {
  let t = timeCache.get(iso);
  if (t === undefined) {
    const d = new Date(iso);
    t = Number.isNaN(d.getTime()) ? '' : TIME_FORMAT.format(d);
    if (timeCache.size > 20_000) timeCache.clear();
    timeCache.set(iso, t);
  }
  return t;
}

export function dayKey(iso: string): string {
  const d = new Date(iso);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

export function dayLabel(iso: string, now: Date = new Date()): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const that = new Date(d.getFullYear(), d.getMonth(), d.getDate());
  const days = Math.round((today.getTime() - that.getTime()) / 86_400_000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  return d.toLocaleDateString(undefined, {
    weekday: days < 7 ? 'long' : undefined,
    day: 'numeric',
    month: 'long',
    year: d.getFullYear() === now.getFullYear() ? undefined : 'numeric',
  });
}

/** Short time for the conversation list: time today, weekday this week, date otherwise. */
export function listTime(iso: string, now: Date = new Date()): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const label = dayLabel(iso, now);
  if (label === 'Today') return timeOf(iso);
  if (label === 'Yesterday') return label;
  const days = (now.getTime() - d.getTime()) / 86_400_000;
  if (days < 7) return d.toLocaleDateString(undefined, { weekday: 'short' });
  return d.toLocaleDateString(undefined, { day: 'numeric', month: 'short' });
}

export function lastSeenText(iso: string | null, now: Date = new Date()): string {
  if (!iso) return 'offline';
  const d = new Date(iso);
  const mins = Math.round((now.getTime() - d.getTime()) / 60_000);
  if (mins < 1) return 'last seen just now';
  if (mins < 60) return `last seen ${mins} min ago`;
  const label = dayLabel(iso, now);
  if (label === 'Today') return `last seen today at ${timeOf(iso)}`;
  if (label === 'Yesterday') return `last seen yesterday at ${timeOf(iso)}`;
  return `last seen ${label}`;
}

/** Minutes within which consecutive messages of one sender are grouped. */
export const GROUP_WINDOW_MS = 5 * 60_000;
