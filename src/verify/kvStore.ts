/**
 * usrloc kv_store.c store_deserialize() (2.4+), run by new_ucontact on a non-empty kv_store. It
 * never rejects the row: on a problem it logs and the contact loads with an empty or partial
 * key-value store. Returns the line OpenSIPS would log, or null when the value is fine.
 * cJSON type numbers in the LM_BUG lines: false 1, true 2, null 4, number 8, string 16,
 * array 32, object 64.
 */
function cjsonType(v: unknown): number {
  if (v === false) return 1;
  if (v === true) return 2;
  if (v === null) return 4;
  if (typeof v === 'number') return 8;
  if (typeof v === 'string') return 16;
  if (Array.isArray(v)) return 32;
  return 64;
}

export function kvStoreProblem(kv: string | null): string | null {
  if (kv === null || kv.length === 0) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(kv);
  } catch {
    return 'bad JSON input or oom';
  }
  const type = cjsonType(parsed);
  if (type !== 64) return `non-cJSON_Object kv_store col type (${type})`;
  for (const value of Object.values(parsed as Record<string, unknown>)) {
    const t = cjsonType(value);
    if (t !== 8 && t !== 16) return `unknown obj type (${t})`;
  }
  return null;
}
