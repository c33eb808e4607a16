import type { Command } from 'commander';
import { checkParts, packContactId, parseContactId, unpackContactId } from '../opensips/contactId.js';
import { UlbridgeError } from '../ops/errors.js';
import { formatTable, printJson, printLine } from './output.js';

function parseField(name: string, raw: string): number {
  if (!/^\d+$/.test(raw.trim())) {
    throw new UlbridgeError('BAD_CONTACT_ID_PART', `--${name} must be a non-negative decimal integer, got "${raw}"`);
  }
  return Number(raw.trim());
}

export function registerIdCommands(program: Command): void {
  const id = program.command('id').description('decode or encode usrloc contact ids');

  id.command('decode')
    .description('split contact ids into aorhash, rlabel and clabel')
    .argument('<id...>', 'decimal contact ids (0 to 2^62-1)')
    .option('--json', 'one JSON document')
    .action((ids: string[], opts: { json?: boolean }) => {
      const decoded = ids.map((raw) => {
        const v = parseContactId(raw);
        return { contactId: v.toString(), ...unpackContactId(v) };
      });
      if (opts.json) {
        printJson({ ids: decoded });
        return;
      }
      printLine(
        formatTable(
          ['CONTACT_ID', 'AORHASH', 'RLABEL', 'CLABEL'],
          decoded.map((d) => [d.contactId, String(d.aorhash), String(d.rlabel), String(d.clabel)]),
        ),
      );
    });

  id.command('encode')
    .description('pack aorhash, rlabel and clabel into a contact id')
    .requiredOption('--aorhash <n>', 'low 16 bits of core_hash(AOR), 0-65535')
    .requiredOption('--rlabel <n>', 'record label, 0-4294967295')
    .requiredOption('--clabel <n>', 'contact label, 0-16383')
    .option('--json', 'one JSON document')
    .action((opts: { aorhash: string; rlabel: string; clabel: string; json?: boolean }) => {
      const parts = checkParts({
        aorhash: parseField('aorhash', opts.aorhash),
        rlabel: parseField('rlabel', opts.rlabel),
        clabel: parseField('clabel', opts.clabel),
      });
      const contactId = packContactId(parts).toString();
      if (opts.json) printJson({ contactId, ...parts });
      else printLine(contactId);
    });
}
