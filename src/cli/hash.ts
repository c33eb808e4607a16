import type { Command } from 'commander';
import { coreHash, type CharSignedness } from '../opensips/coreHash.js';
import { parseHashSize, slotOf } from '../opensips/hashSize.js';
import { UlbridgeError } from '../ops/errors.js';
import { formatTable, printJson, printLine } from './output.js';

interface HashOptions {
  hex?: boolean;
  unsignedChar?: boolean;
  hashSize?: string;
  json?: boolean;
}

export interface HashEntry {
  aor: string;
  hex: string;
  coreHash: number;
  aorhash: number;
  slot?: number;
}

function parseHex(raw: string): Buffer {
  const s = raw.replace(/^0x/i, '');
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) {
    throw new UlbridgeError('BAD_HEX', `"${raw}" is not hex bytes: give an even number of hex digits, e.g. 63616c6c6565`);
  }
  return Buffer.from(s, 'hex');
}

export function hashEntries(aors: string[], opts: HashOptions): HashEntry[] {
  const signedness: CharSignedness = opts.unsignedChar ? 'unsigned' : 'signed';
  const hashSize = opts.hashSize === undefined ? undefined : parseHashSize(opts.hashSize);
  return aors.map((aor) => {
    const bytes = opts.hex ? parseHex(aor) : Buffer.from(aor, 'utf8');
    const full = coreHash(bytes, signedness);
    const entry: HashEntry = { aor, hex: bytes.toString('hex'), coreHash: full, aorhash: full & 0xffff };
    if (hashSize !== undefined) entry.slot = slotOf(full, hashSize);
    return entry;
  });
}

export function registerHashCommand(program: Command): void {
  program
    .command('hash')
    .description('core_hash, contact-id aorhash and (with --hash-size) usrloc slot of each AOR')
    .argument('<aor...>', 'AORs as usrloc hashes them: username, or username@domain with use_domain=1')
    .option('--hex', 'AORs are given as hex bytes')
    .option('--unsigned-char', 'hash as an OpenSIPS built with unsigned char (arm64); default signed (x86-64)')
    .option('--hash-size <n>', 'usrloc hash_size modparam (0-16) to report the slot')
    .option('--json', 'one JSON document')
    .action((aors: string[], opts: HashOptions) => {
      const entries = hashEntries(aors, opts);
      if (opts.json) {
        printJson({
          signedness: opts.unsignedChar ? 'unsigned' : 'signed',
          hashSize: opts.hashSize === undefined ? null : Number(opts.hashSize),
          aors: entries,
        });
        return;
      }
      const withSlot = opts.hashSize !== undefined;
      printLine(
        formatTable(
          ['AOR', 'CORE_HASH', 'AORHASH', ...(withSlot ? ['SLOT'] : [])],
          entries.map((e) => [e.aor, String(e.coreHash), String(e.aorhash), ...(withSlot ? [String(e.slot)] : [])]),
        ),
      );
    });
}
