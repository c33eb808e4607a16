/**
 * OpenSIPS parse_phostport() (socket_info.h), which dbrow2info runs on a non-empty `socket`
 * column: "[proto:]host[:port]", IPv6 hosts in brackets. It fails ("bad socket <%s>") on
 * unbalanced or nested brackets, more than two ':' outside brackets, a trailing ':', an unknown
 * protocol, or a non-numeric port after two ':'. With one ':' the part after it is a port when it
 * is all digits, otherwise the part before it must be a protocol. A socket that parses but is not
 * a local listener is accepted (the contact just has no socket).
 */

/** Protocol names parse_proto() knows in 2.2-4.0 builds (union; case-insensitive). */
const PROTOS = new Set([
  'udp',
  'tcp',
  'tls',
  'sctp',
  'ws',
  'wss',
  'bin',
  'bins',
  'hep_udp',
  'hep_tcp',
  'hep_tls',
  'smpp',
  'msrp',
  'msrps',
  'ipsec',
]);

function isProto(s: string): boolean {
  return PROTOS.has(s.toLowerCase());
}

/** str2int(): at least one digit, digits only. */
function isUint(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

export function isValidSocket(s: string): boolean {
  let first = -1;
  let second = -1;
  let bracket = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 91 /* [ */) {
      if (++bracket > 1) return false;
    } else if (c === 93 /* ] */) {
      if (--bracket < 0) return false;
    } else if (c === 58 /* : */ && bracket === 0) {
      if (first < 0) first = i;
      else if (second < 0) second = i;
      else return false; // too many colons
    }
  }
  if (s.length === 0) return false;
  if (s.charCodeAt(s.length - 1) === 58) return false;
  if (first < 0) return true; // host only
  if (second >= 0) return isProto(s.slice(0, first)) && isUint(s.slice(second + 1));
  if (isUint(s.slice(first + 1))) return true; // host:port
  return isProto(s.slice(0, first)); // proto:host
}
