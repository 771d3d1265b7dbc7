import { useState } from 'react';
import type { PresenceStatus } from '../sdk/types';
import { safeHref } from './linkify';

const COLORS = ['#4f7cff', '#e6568e', '#2fa67a', '#f08c2e', '#8a63d2', '#1b9bb5', '#c2503d', '#5f7d2e'];

function colorFor(seed: string): string {
  let h = 0;
  for (let i = 0; i < seed.length; i++) h = (h * 31 + seed.charCodeAt(i)) | 0;
  return COLORS[Math.abs(h) % COLORS.length]!;
}

function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const s = parts.length > 1 ? parts[0]![0]! + parts[parts.length - 1]![0]! : (parts[0] ?? '?').slice(0, 2);
  return s.toUpperCase();
}

export function Avatar({
  name,
  seed,
  url,
  size = 40,
  presence,
}: {
  name: string;
  seed: string;
  url?: string | null;
  size?: number;
  presence?: PresenceStatus | null;
}) {
  const [broken, setBroken] = useState(false);
  const src = url && !broken ? safeHref(url) : null;
  return (
    <span className="avatar" style={{ width: size, height: size }} aria-hidden="true">
      {src ? (
        <img src={src} alt="" width={size} height={size} onError={() => setBroken(true)} referrerPolicy="no-referrer" />
      ) : (
        <span className="avatar-initials" style={{ background: colorFor(seed), fontSize: size * 0.38 }}>
          {initials(name)}
        </span>
      )}
      {presence ? <span className={`presence-dot presence-${presence}`} data-testid="presence-dot" data-status={presence} /> : null}
    </span>
  );
}
