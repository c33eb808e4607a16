import { DateTime } from 'luxon';

/**
 * Unix seconds -> 'YYYY-MM-DD HH:MM:SS' wall-clock time in an IANA zone, the way an OpenSIPS host
 * in that zone writes DATETIME columns (mktime/localtime in its local zone).
 */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Recent conversions per zone: a batch's timestamps cluster on a few seconds, and formatToParts is slow. */
const recent = new Map<string, Map<number, string>>();
const RECENT_MAX = 4096;

export function unixToLocalDatetime(unixSeconds: bigint | number, timeZone: string): string {
  const secs = Number(unixSeconds);
  let cache = recent.get(timeZone);
  if (!cache) recent.set(timeZone, (cache = new Map()));
  let text = cache.get(secs);
  if (text === undefined) {
    text = formatLocal(secs, timeZone);
    if (cache.size >= RECENT_MAX) cache.clear();
    cache.set(secs, text);
  }
  return text;
}

function formatLocal(unixSeconds: number, timeZone: string): string {
  const parts = formatter(timeZone).formatToParts(new Date(Number(unixSeconds) * 1000));
  const get = (t: Intl.DateTimeFormatPartTypes): string => parts.find((p) => p.type === t)!.value;
  return `${get('year').padStart(4, '0')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')}:${get('second')}`;
}

/**
 * 'YYYY-MM-DD HH:MM:SS' wall-clock time in an IANA zone -> unix seconds, as OpenSIPS's mktime reads
 * a DATETIME column back (an ambiguous time in a DST fold takes the earlier instant).
 */
export function localDatetimeToUnix(text: string, timeZone: string): bigint {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})/.exec(text);
  if (!m) throw new Error(`"${text}" is not a YYYY-MM-DD HH:MM:SS date-time`);
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const local = DateTime.fromObject({ year, month, day, hour, minute, second }, { zone: timeZone });
  if (!local.isValid) throw new Error(`"${text}" is not a valid time in ${timeZone}`);
  return BigInt(local.toSeconds());
}
