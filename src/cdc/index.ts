export * from './errors.js';
export * from './envelope.js';
export { createDecoder, releaseFamily, type Decoded, type DecodedChange, type Decoder, type DecoderConfig } from './decoder.js';
export { binlogFileNumber } from './source.js';
