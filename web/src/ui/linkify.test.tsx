import { render } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { MessageText, safeHref, tokenize } from './linkify';

describe('linkify', () => {
  it('links http and https URLs only', () => {
    expect(tokenize('see https://example.com/a?b=1 and http://x.org')).toEqual([
      { kind: 'text', text: 'see ' },
      { kind: 'link', text: 'https://example.com/a?b=1', href: 'https://example.com/a?b=1' },
      { kind: 'text', text: ' and ' },
      { kind: 'link', text: 'http://x.org', href: 'http://x.org/' },
    ]);
  });

  it('never links javascript:, data: or other schemes', () => {
    for (const bad of ['javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'data:text/html,<b>x</b>', 'vbscript:x', 'file:///etc/passwd']) {
      expect(tokenize(`click ${bad}`).every((s) => s.kind === 'text')).toBe(true);
      expect(safeHref(bad)).toBeNull();
    }
  });

  it('keeps trailing punctuation out of the link, but balanced parentheses in', () => {
    expect(tokenize('(see https://a.io/x).')[1]).toEqual({ kind: 'link', text: 'https://a.io/x', href: 'https://a.io/x' });
    expect(tokenize('https://en.wikipedia.org/wiki/Foo_(bar)')[0]).toMatchObject({ text: 'https://en.wikipedia.org/wiki/Foo_(bar)' });
    expect(tokenize('go to https://a.io!')[1]).toMatchObject({ text: 'https://a.io' });
  });

  it('renders links as safe anchors and never interprets HTML', () => {
    const { container } = render(
      <p>
        <MessageText text={'<img src=x onerror=alert(1)> <b>bold</b> https://ok.example/"onmouseover="x javascript:alert(1)'} />
      </p>,
    );
    expect(container.querySelector('img')).toBeNull();
    expect(container.querySelector('b')).toBeNull();
    expect(container.textContent).toContain('<img src=x onerror=alert(1)>');
    const links = container.querySelectorAll('a');
    expect(links).toHaveLength(1);
    const a = links[0]!;
    expect(a.getAttribute('href')).toBe('https://ok.example/');
    expect(a.getAttribute('rel')).toBe('noopener noreferrer nofollow');
    expect(a.getAttribute('target')).toBe('_blank');
    expect(a.getAttribute('onmouseover')).toBeNull();
  });

  it('highlights @mentions of members, and mine specially', () => {
    const { container } = render(
      <p>
        <MessageText text="hi @bob and @me, not email@bob or @bobby" mentions={{ bob: 'u-bob', me: 'u-me' }} meId="u-me" />
      </p>,
    );
    const mentions = [...container.querySelectorAll('.mention')].map((e) => [e.textContent, e.classList.contains('mention-me')]);
    expect(mentions).toEqual([
      ['@bob', false],
      ['@me', true],
    ]);
  });
});
