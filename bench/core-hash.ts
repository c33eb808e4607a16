import { coreHash } from '../src/opensips/coreHash.js';
import { makeAors } from './aors.js';
import { measure, type BenchSection } from './section.js';

/** core_hash throughput over realistic AORs (already UTF-8 encoded), signed and unsigned char. */
export const section: BenchSection = {
  name: 'core-hash',
  async run(ctx) {
    const aors = makeAors(100_000).map((a) => Buffer.from(a, 'utf8'));
    const bytes = aors.reduce((n, b) => n + b.length, 0);
    const avg = bytes / aors.length;
    let sink = 0;
    const figures = [];
    for (const signedness of ['signed', 'unsigned'] as const) {
      measure(() => {
        for (const a of aors) sink ^= coreHash(a, signedness);
        return aors.length;
      }, 300); // warm-up
      const m = measure(() => {
        for (const a of aors) sink ^= coreHash(a, signedness);
        return aors.length;
      }, 2000 * ctx.scale);
      figures.push({
        figure: `core_hash, ${signedness} char`,
        value: m.perSecond,
        unit: 'hashes/s',
        note: `${aors.length} AORs, mean ${avg.toFixed(1)} bytes, ${m.calls} passes`,
      });
    }
    if (sink === 0.5) ctx.log('unreachable'); // keeps the loop from being optimised away
    return figures;
  },
};
