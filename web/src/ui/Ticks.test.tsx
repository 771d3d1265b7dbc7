import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { Ticks } from './Ticks';

describe('Ticks', () => {
  it.each([
    ['sending', '🕓'],
    ['sent', '✓'],
    ['delivered', '✓✓'],
    ['read', '✓✓'],
    ['failed', '!'],
  ] as const)('%s renders %s', (tick, glyph) => {
    render(<Ticks tick={tick} />);
    const el = screen.getByTestId('ticks');
    expect(el.textContent).toBe(glyph);
    expect(el.dataset.tick).toBe(tick);
    expect(el.className).toContain(`ticks-${tick}`);
  });
});
