export * from './coreHash.js';
export * from './contactId.js';
export * from './hashSize.js';
export * from './aor.js';
export * from './releases.js';
