/**
 * Whether OpenSIPS's parse_uri() would accept a string, closely enough to predict preload: the
 * contact column ("contact [...] is not valid!"), the received column and the first Path URI
 * (compute_next_hop). It checks what parse_uri rejects in practice: the scheme (sip, sips, tel,
 * tels), an empty user before '@', an empty or malformed host, an IPv6 reference without its
 * closing bracket, a port that is not 1-5 digits up to 65535, blanks and controls anywhere, and
 * <, >, " before the host. Parameters and headers are not validated (OpenSIPS
 * tolerates almost anything there). A hand-written scanner: no regex, no allocation.
 */

const C_COLON = 58;
const C_SEMI = 59;
const C_QMARK = 63;
const C_AT = 64;
const C_LBRACKET = 91;
const C_RBRACKET = 93;

function lower(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

/** Blanks and controls: never part of a stored URI. */
function blank(c: number): boolean {
  return c <= 32 || c === 127;
}

/** Characters that delimit a URI inside a header; they cannot appear in the user part. */
function delimiter(c: number): boolean {
  return c === 60 /* < */ || c === 62 /* > */ || c === 34; /* " */
}

function hostChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 46 || c === 95;
}

function hexOrColonOrDot(c: number): boolean {
  return (c >= 48 && c <= 58) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102) || c === 46;
}

/** Length of the scheme including ':' and whether it is a tel URI; 0 when not a SIP/TEL scheme. */
function schemeLength(s: string): { len: number; tel: boolean } {
  const c0 = lower(s.charCodeAt(0));
  const c1 = lower(s.charCodeAt(1));
  const c2 = lower(s.charCodeAt(2));
  const c3 = s.charCodeAt(3);
  const secure = lower(c3) === 115; /* s */
  const colonAt = secure ? 4 : 3;
  if (s.charCodeAt(colonAt) !== C_COLON) return { len: 0, tel: false };
  if (c0 === 115 && c1 === 105 && c2 === 112) return { len: colonAt + 1, tel: false }; // sip / sips
  if (c0 === 116 && c1 === 101 && c2 === 108) return { len: colonAt + 1, tel: true }; // tel / tels
  return { len: 0, tel: false };
}

export function isSipUri(s: string): boolean {
  const n = s.length;
  if (n < 5) return false;
  const scheme = schemeLength(s);
  if (scheme.len === 0) return false;
  let i = scheme.len;
  if (scheme.tel) {
    for (let j = i; j < n; j++) if (blank(s.charCodeAt(j))) return false;
    return i < n;
  }

  // userinfo: up to the first '@' before any header part
  let sawDelimiter = false;
  let scanned = i; // characters before `scanned` have been checked for blanks
  for (let j = i; j < n; j++) {
    const c = s.charCodeAt(j);
    if (blank(c)) return false;
    scanned = j + 1;
    if (c === C_QMARK) break;
    if (delimiter(c)) sawDelimiter = true;
    if (c === C_AT) {
      if (j === i || sawDelimiter) return false; // "sip:@host", "sip:<a>@host"
      i = j + 1;
      break;
    }
  }
  if (i >= n) return false; // "sip:user@" - no host

  // host
  if (s.charCodeAt(i) === C_LBRACKET) {
    const start = ++i;
    while (i < n && s.charCodeAt(i) !== C_RBRACKET) {
      if (!hexOrColonOrDot(s.charCodeAt(i))) return false;
      i++;
    }
    if (i >= n || i === start) return false;
    i++; // past ']'
  } else {
    const start = i;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c === C_COLON || c === C_SEMI || c === C_QMARK) break;
      if (!hostChar(c)) return false;
      i++;
    }
    if (i === start) return false;
  }

  // port
  if (i < n && s.charCodeAt(i) === C_COLON) {
    i++;
    let port = 0;
    const start = i;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      port = port * 10 + (c - 48);
      i++;
    }
    if (i === start || i - start > 5 || port > 65535) return false;
  }
  if (i < n) {
    const c = s.charCodeAt(i);
    if (c !== C_SEMI && c !== C_QMARK) return false;
  }
  // parameters and headers: only blanks are refused
  for (let j = Math.max(i, scanned); j < n; j++) if (blank(s.charCodeAt(j))) return false;
  return true;
}

/**
 * The URI of the first Path element, as get_path_dst_uri() takes it (parse_rr_body, then the
 * name-addr's URI); null when the Path value cannot be parsed that far.
 */
export function firstPathUri(path: string): string | null {
  let depth = 0;
  let quoted = false;
  let end = path.length;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 34 /* " */) quoted = !quoted;
    else if (!quoted && c === 60 /* < */) depth++;
    else if (!quoted && c === 62 /* > */) depth--;
    else if (!quoted && depth === 0 && c === 44 /* , */) {
      end = i;
      break;
    }
  }
  const first = path.slice(0, end).trim();
  if (first.length === 0) return null;
  const lt = first.indexOf('<');
  if (lt < 0) return first;
  const gt = first.indexOf('>', lt + 1);
  if (gt < 0) return null;
  return first.slice(lt + 1, gt).trim();
}
