/** Parley TypeScript SDK: wire types, REST client, WebSocket client, ids. */
export * from './types';
export * from './rest';
export * from './socket';
export * from './backoff';
export * from './uuidv7';
