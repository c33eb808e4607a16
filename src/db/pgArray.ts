/**
 * PostgreSQL array parameters as one array literal each ('{1,2,3}', '{"a","b\"c"}'), written here
 * rather than by the driver: node-postgres quotes every element and runs two regular-expression
 * replacements over each, and a 500-row, 20-column set-based write is 10,000 elements (measured:
 * about three times the CPU of this). Values keep the meaning the driver gives them: null and
 * undefined are NULL, strings are always quoted (so '', 'NULL', spaces, commas and braces stay
 * text), numbers, bigints and booleans are written bare. An array holding anything else (objects,
 * buffers, dates, nested arrays) is left to the driver.
 */

const NEEDS_ESCAPE = /["\\]/;
const ESCAPED = /["\\]/g;

/** The array literal of these values, or null when one of them is not a string, number, bigint, boolean or null. */
export function pgArray(values: readonly unknown[]): string | null {
  const elements = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    switch (typeof v) {
      case 'string':
        elements[i] = NEEDS_ESCAPE.test(v) ? `"${v.replace(ESCAPED, '\\$&')}"` : `"${v}"`;
        break;
      case 'number':
      case 'bigint':
        elements[i] = String(v);
        break;
      case 'boolean':
        elements[i] = v ? 't' : 'f';
        break;
      case 'undefined':
        elements[i] = 'NULL';
        break;
      default:
        if (v !== null) return null;
        elements[i] = 'NULL';
    }
  }
  return `{${elements.join(',')}}`;
}

/** Statement parameters with each array of plain values replaced by its literal (pgArray). */
export function arrayParams(values: readonly unknown[]): unknown[] {
  return values.map((v) => (Array.isArray(v) ? (pgArray(v) ?? v) : v));
}

/**
 * Rows as one array per column, for `unnest($1::t1[], $2::t2[], ...)` (each array then goes as
 * one literal); `width` cells of each row, in order.
 */
export function columnArrays(rows: ReadonlyArray<readonly unknown[]>, width: number): unknown[][] {
  const arrays: unknown[][] = Array.from({ length: width }, () => new Array(rows.length));
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    for (let c = 0; c < width; c++) arrays[c]![r] = row[c];
  }
  return arrays;
}
