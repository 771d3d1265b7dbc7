/**
 * Safe rendering of message text. Text is only ever rendered as React text
 * nodes (escaped by React); URLs become <a> elements only when their scheme
 * is http or https. No HTML in a message is ever interpreted.
 */
import type { ReactNode } from 'react';

export type TextSegment =
  | { kind: 'text'; text: string }
  | { kind: 'link'; text: string; href: string }
  | { kind: 'mention'; text: string; userId: string };

const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING_PUNCT = /[.,;:!?'")\]}>]+$/;

/** Returns the normalized href for http(s) URLs, or null for anything else. */
export function safeHref(raw: string): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  return url.href;
}

/** Splits text into plain, link and @mention segments. */
export function tokenize(text: string, mentions: Record<string, string> = {}): TextSegment[] {
  const out: TextSegment[] = [];
  const pushText = (t: string) => {
    if (!t) return;
    out.push(...splitMentions(t, mentions));
  };
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    let raw = match[0];
    const start = match.index ?? 0;
    // keep closing punctuation outside the link unless it balances an opening bracket
    const trail = raw.match(TRAILING_PUNCT)?.[0] ?? '';
    if (trail) {
      let cut = trail.length;
      if (trail.startsWith(')') && raw.includes('(')) cut = trail.length - 1;
      raw = raw.slice(0, raw.length - cut);
    }
    const href = safeHref(raw);
    if (!href) continue;
    pushText(text.slice(last, start));
    out.push({ kind: 'link', text: raw, href });
    last = start + raw.length;
  }
  pushText(text.slice(last));
  return out;
}

/** `mentions` maps a username (without @) to a userId. */
function splitMentions(text: string, mentions: Record<string, string>): TextSegment[] {
  const names = Object.keys(mentions);
  if (names.length === 0) return [{ kind: 'text', text }];
  const escaped = names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).sort((a, b) => b.length - a.length);
  const re = new RegExp(`(^|[^\\w@])@(${escaped.join('|')})(?![\\w])`, 'g');
  const out: TextSegment[] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    const at = (m.index ?? 0) + m[1]!.length;
    if (at > last) out.push({ kind: 'text', text: text.slice(last, at) });
    out.push({ kind: 'mention', text: `@${m[2]}`, userId: mentions[m[2]!]! });
    last = at + 1 + m[2]!.length;
  }
  if (last < text.length) out.push({ kind: 'text', text: text.slice(last) });
  return out;
}

export function MessageText({
  text,
  mentions,
  meId,
}: {
  text: string;
  mentions?: Record<string, string>;
  meId?: string;
}): ReactNode {
  const segments = tokenize(text, mentions);
  return segments.map((s, i) => {
    if (s.kind === 'link') {
      return (
        <a key={i} href={s.href} target="_blank" rel="noopener noreferrer nofollow">
          {s.text}
        </a>
      );
    }
    if (s.kind === 'mention') {
      return (
        <span key={i} className={s.userId === meId ? 'mention mention-me' : 'mention'}>
          {s.text}
        </span>
      );
    }
    return <span key={i}>{s.text}</span>;
  });
}
