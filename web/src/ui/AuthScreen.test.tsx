import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { MemorySessionStore, RestClient } from '../sdk/rest';
import { AuthScreen } from './AuthScreen';

function api(status: number, body: unknown) {
  const fetch = vi.fn(async (_url: string, _init: RequestInit) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } }));
  return { fetch, client: new RestClient({ fetch, store: new MemorySessionStore() }) };
}

describe('AuthScreen', () => {
  it('registers with username, display name and password', async () => {
    const { fetch, client } = api(201, {
      user: { id: 'u1', username: 'ann', displayName: 'Ann', avatarUrl: null },
      accessToken: 'A',
      refreshToken: 'R',
      expiresIn: 900,
    });
    render(<AuthScreen api={client} />);
    fireEvent.click(screen.getByTestId('auth-toggle'));
    fireEvent.change(screen.getByTestId('auth-username'), { target: { value: ' ann ' } });
    fireEvent.change(screen.getByTestId('auth-displayname'), { target: { value: 'Ann' } });
    fireEvent.change(screen.getByTestId('auth-password'), { target: { value: 'long-enough' } });
    fireEvent.submit(screen.getByTestId('auth-form'));
    await waitFor(() => expect(client.getSession()?.accessToken).toBe('A'));
    const [url, init] = fetch.mock.calls[0]!;
    expect(url).toBe('/api/v1/auth/register');
    expect(JSON.parse(String(init.body))).toEqual({ username: 'ann', password: 'long-enough', displayName: 'Ann' });
  });

  it('shows a readable error for a stable error code', async () => {
    const { client } = api(401, { code: 'invalid_credentials', message: 'nope' });
    render(<AuthScreen api={client} />);
    fireEvent.change(screen.getByTestId('auth-username'), { target: { value: 'ann' } });
    fireEvent.change(screen.getByTestId('auth-password'), { target: { value: 'x' } });
    fireEvent.submit(screen.getByTestId('auth-form'));
    expect((await screen.findByTestId('auth-error')).textContent).toBe('Wrong username or password.');
    expect(screen.getByRole('alert')).toBeTruthy();
  });
});
