/**
 * usrloc replication packets by UL_BIN_VERSION. A version ulbridge has no codec for is refused
 * (CLUSTER_PROTOCOL_UNSUPPORTED), never decoded with a neighbouring version's layout.
 *
 *   UL_BIN_VERSION 3: OpenSIPS 3.4.x, 3.5.x   (./v3.ts)
 *   UL_BIN_VERSION 5: OpenSIPS 3.6.x, 4.0.x   (./v5.ts)
 *
 * Versions 2 and 4 are accepted by OpenSIPS receivers but sent by no 3.4-4.0 release (2 is 3.0-3.3
 * era, 4 existed only during 3.6 development); ulbridge refuses them too.
 */
import { decodeBinPacket, encodeBinPacket } from '../bin.js';
import { appendTrailer, splitTrailer, type Trailer } from '../clusterer.js';
import { malformed, unsupported } from '../errors.js';
import { USRLOC_CAPABILITY, type UsrlocCodec, type UsrlocMessage, type UsrlocSyncChunk } from './types.js';
import { usrlocV3 } from './v3.js';
import { usrlocV5 } from './v5.js';

export * from './types.js';

export const USRLOC_CODECS: Readonly<Record<number, UsrlocCodec>> = { 3: usrlocV3, 5: usrlocV5 };

/** The UL_BIN_VERSION an OpenSIPS release sends ("3.6", "4.0", ...). */
export function usrlocVersionForRelease(release: string): number {
  const m = /^(\d+)\.(\d+)/.exec(release);
  const key = m ? `${m[1]}.${m[2]}` : release;
  for (const c of Object.values(USRLOC_CODECS)) if (c.releases.includes(key)) return c.version;
  throw unsupported(
    `OpenSIPS ${release} is not a release ulbridge can replicate usrloc to (supported: 3.4, 3.5, 3.6, 4.0); ` +
      'set the target release to one of those or upgrade ulbridge',
  );
}

export function usrlocCodec(version: number): UsrlocCodec {
  const c = USRLOC_CODECS[version];
  if (!c) {
    const newer = version > Math.max(...Object.keys(USRLOC_CODECS).map(Number));
    throw unsupported(
      `usrloc replication packet of UL_BIN_VERSION ${version}: ulbridge implements versions 3 (OpenSIPS 3.4/3.5) and 5 (3.6/4.0) only. ` +
        (newer
          ? 'The registrar runs a newer OpenSIPS than this ulbridge knows: upgrade ulbridge, or take ulbridge out of the location cluster until then.'
          : 'No OpenSIPS 3.4-4.0 release sends it: check the registrar version (opensips -V).'),
    );
  }
  return c;
}

export interface UsrlocPacket {
  version: number;
  message: UsrlocMessage;
  trailer: Trailer;
}

/** Decodes a whole BIN packet of capability usrloc-contact-repl (header, fields, trailer). */
export function decodeUsrlocPacket(buf: Buffer): UsrlocPacket {
  const p = decodeBinPacket(buf);
  if (p.capability !== USRLOC_CAPABILITY) throw malformed(`not a usrloc packet: capability ${JSON.stringify(p.capability)}`);
  const codec = usrlocCodec(p.version);
  const { payload, trailer } = splitTrailer(p.body);
  return { version: p.version, message: codec.decode(p.type, payload), trailer };
}

/** Builds the whole BIN packet a registrar of that UL_BIN_VERSION would send. */
export function encodeUsrlocPacket(pk: { version: number; message: UsrlocMessage; trailer: Trailer }): Buffer {
  const codec = usrlocCodec(pk.version);
  const { type, body } = codec.encode(pk.message);
  return encodeBinPacket({ version: pk.version, capability: USRLOC_CAPABILITY, type, body: appendTrailer(body, pk.trailer) });
}

/** The chunks of a CLUSTERER_SYNC packet for usrloc (its data_version picks the codec). */
export function decodeUsrlocSyncChunks(dataVersion: number, chunks: Buffer[]): UsrlocSyncChunk[] {
  const codec = usrlocCodec(dataVersion);
  return chunks.map((c) => codec.decodeSyncChunk(c));
}

export function encodeUsrlocSyncChunks(dataVersion: number, chunks: UsrlocSyncChunk[]): Buffer[] {
  const codec = usrlocCodec(dataVersion);
  return chunks.map((c) => codec.encodeSyncChunk(c));
}
