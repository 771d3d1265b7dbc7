import { fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import type { Member, Message } from '../sdk/types';
import { Composer, mentionedIds, mentionQuery, type ComposerProps } from './Composer';

const members: Member[] = [
  { userId: 'me', role: 'admin', username: 'me', displayName: 'Me' },
  { userId: 'u-bob', role: 'member', username: 'bob', displayName: 'Bob Stone' },
  { userId: 'u-bea', role: 'member', username: 'bea', displayName: 'Bea' },
];

function setup(over: Partial<ComposerProps> = {}) {
  const props: ComposerProps = {
    conversationId: 'c1',
    members,
    meId: 'me',
    replyTo: null,
    replyToName: '',
    editing: null,
    onSend: vi.fn(),
    onSaveEdit: vi.fn(),
    onCancel: vi.fn(),
    onTyping: vi.fn(),
    onStopTyping: vi.fn(),
    ...over,
  };
  render(<Composer {...props} />);
  const input = screen.getByTestId('composer-input') as HTMLTextAreaElement;
  const type = (value: string) => fireEvent.change(input, { target: { value, selectionStart: value.length } });
  return { props, input, type };
}

describe('Composer', () => {
  it('sends on Enter and inserts a newline on Shift+Enter', () => {
    const { props, input, type } = setup();
    type('hello');
    expect(props.onTyping).toHaveBeenCalled();
    expect(fireEvent.keyDown(input, { key: 'Enter', shiftKey: true })).toBe(true); // default (newline) not prevented
    expect(props.onSend).not.toHaveBeenCalled();
    fireEvent.keyDown(input, { key: 'Enter' });
    expect(props.onSend).toHaveBeenCalledWith('hello', []);
    expect(input.value).toBe('');
  });

  it('does not send blank text', () => {
    const { props, input, type } = setup();
    type('   ');
    fireEvent.keyDown(input, { key: 'Enter' });
    expect(props.onSend).not.toHaveBeenCalled();
    expect(props.onStopTyping).toHaveBeenCalled();
  });

  it('stops typing on blur', () => {
    const { props, input } = setup();
    fireEvent.blur(input);
    expect(props.onStopTyping).toHaveBeenCalled();
  });

  it('autocompletes @mentions from members and sends their ids', () => {
    const { props, input, type } = setup();
    type('hey @b');
    const options = screen.getAllByTestId('mention-option');
    expect(options.map((o) => o.textContent)).toEqual(['Bob Stone @bob', 'Bea @bea']);
    fireEvent.keyDown(input, { key: 'ArrowDown' });
    fireEvent.keyDown(input, { key: 'Enter' });
    expect(input.value).toBe('hey @bea ');
    expect(screen.queryByTestId('mention-list')).toBeNull();
    fireEvent.change(input, { target: { value: 'hey @bea and @bob', selectionStart: 17 } });
    fireEvent.keyDown(input, { key: 'Escape' });
    fireEvent.keyDown(input, { key: 'Enter' });
    expect(props.onSend).toHaveBeenCalledWith('hey @bea and @bob', ['u-bob', 'u-bea']);
  });

  it('hides the suggestion once a username is typed in full, so Enter sends', () => {
    const { props, input, type } = setup();
    type('hi @bob');
    expect(screen.queryByTestId('mention-list')).toBeNull();
    fireEvent.keyDown(input, { key: 'Enter' });
    expect(props.onSend).toHaveBeenCalledWith('hi @bob', ['u-bob']);
  });

  it('edits: loads the text, saves on Enter, cancels on Escape', () => {
    const editing = { id: 'm1', body: 'old text' } as Message;
    const { props, input, type } = setup({ editing });
    expect(input.value).toBe('old text');
    expect(screen.getByTestId('edit-banner')).toBeTruthy();
    type('new text');
    fireEvent.keyDown(input, { key: 'Enter' });
    expect(props.onSaveEdit).toHaveBeenCalledWith(editing, 'new text');
    type('x');
    fireEvent.keyDown(input, { key: 'Escape' });
    expect(props.onCancel).toHaveBeenCalled();
  });

  it('shows the quoted message when replying', () => {
    setup({ replyTo: { id: 'm1', body: 'the original' } as Message, replyToName: 'Bob' });
    expect(screen.getByTestId('reply-preview').textContent).toContain('Replying to Bob');
    expect(screen.getByTestId('reply-preview').textContent).toContain('the original');
  });
});

describe('mention helpers', () => {
  it('finds the @query before the caret', () => {
    expect(mentionQuery('hi @bo', 6)).toEqual({ start: 3, query: 'bo' });
    expect(mentionQuery('mail@bo', 7)).toBeNull();
    expect(mentionQuery('@', 1)).toEqual({ start: 0, query: '' });
  });

  it('only counts whole @usernames of other members', () => {
    expect(mentionedIds('@bobby @me hi @bea.', members, 'me')).toEqual(['u-bea']);
  });
});
