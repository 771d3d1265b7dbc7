import type { Tick } from '../store/selectors';

const LABEL: Record<Tick, string> = {
  sending: 'Sending',
  accepted: 'Accepted by the server',
  sent: 'Sent',
  delivered: 'Delivered',
  read: 'Read',
  failed: 'Not sent',
};

/** ✓ sent, ✓✓ delivered, blue ✓✓ read; a clock while sending. */
export function Ticks({ tick, title }: { tick: Tick; title?: string }) {
  const glyph =
    tick === 'sending' ? '🕓' : tick === 'failed' ? '!' : tick === 'accepted' || tick === 'sent' ? '✓' : '✓✓';
  return (
    <span className={`ticks ticks-${tick}`} data-testid="ticks" data-tick={tick} title={title ?? LABEL[tick]} aria-label={title ?? LABEL[tick]}>
      {glyph}
    </span>
  );
}
