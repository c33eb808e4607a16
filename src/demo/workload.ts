/**
 * A deterministic generator of realistic legacy (2.1) registrations and registrar-like churn:
 * refreshes (new expires, cseq+1), new contacts for existing AORs, de-registrations, and
 * first registrations of new AORs. Used by `ulbridge demo`, the end-to-end tests and the benches.
 */

export interface LegacyRow {
  username: string;
  domain: string;
  contact: string;
  received: string | null;
  path: string | null;
  /** Unix seconds; written as DATETIME in the source registrar's zone. */
  expires: number;
  q: number;
  callid: string;
  cseq: number;
  lastModified: number;
  flags: number;
  cflags: string | null;
  userAgent: string;
  socket: string | null;
  methods: number | null;
  sipInstance: string | null;
  attr: string | null;
}

/** mulberry32: small, fast, seedable; quality is ample for test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const USER_AGENTS = [
  'Yealink SIP-T46S 66.86.0.15',
  'Polycom/5.9.7.3480 PolycomVVX-VVX_411-UA/5.9.7.3480',
  'Linphone/5.2.5 (belle-sip/5.2.4)',
  'Zoiper rv2.10.20.3',
  'Grandstream GXP2170 1.0.11.23',
  'MicroSIP/3.21.3',
  'Bria 6 release 6.5.4',
];
const DOMAINS = ['example.com', 'voip.example.net', 'sip.example.org'];
const FIRST = [
  'alice',
  'bob',
  'carol',
  'dave',
  'erin',
  'frank',
  'grace',
  'heidi',
  'ivan',
  'judy',
  'mallory',
  'niaj',
  'olivia',
  'peggy',
  'rupert',
  'sybil',
  'trent',
  'victor',
  'walter',
];

export class Workload {
  private readonly rand: () => number;
  private seq = 0;

  constructor(
    seed: number,
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
  ) {
    this.rand = rng(seed);
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rand() * xs.length)]!;
  }

  private ip(): string {
    return `10.${Math.floor(this.rand() * 256)}.${Math.floor(this.rand() * 256)}.${1 + Math.floor(this.rand() * 254)}`;
  }

  /** The n-th AOR of the population: mostly numeric extensions, some names, some mixed case. */
  username(n: number): string {
    if (n % 5 === 0) {
      const name = `${FIRST[n % FIRST.length]}.${Math.floor(n / FIRST.length)}`;
      return n % 3 === 0 ? name.charAt(0).toUpperCase() + name.slice(1) : name;
    }
    return String(100000 + n);
  }

  /** A fresh registration of AOR number n. */
  registration(n: number): LegacyRow {
    const now = this.now();
    const natted = this.rand() < 0.4;
    const port = natted ? 1024 + Math.floor(this.rand() * 60000) : 5060;
    const ip = this.ip();
    const transport = this.pick(['udp', 'tcp', 'tls'] as const);
    const username = this.username(n);
    this.seq++;
    return {
      username,
      domain: DOMAINS[n % DOMAINS.length]!,
      contact: `sip:${username}@${ip}:${port};transport=${transport}`,
      received: natted ? `sip:198.51.100.${1 + Math.floor(this.rand() * 254)}:${port}` : null,
      path: this.rand() < 0.1 ? `<sip:edge1.example.com;lr;received=sip:${ip}:${port}>` : null,
      expires: now + 600 + Math.floor(this.rand() * 3000),
      q: this.pick([1, 1, 1, 0.5, -1]),
      callid: `${this.seq.toString(36)}-${Math.floor(this.rand() * 2 ** 32).toString(16)}@${ip}`,
      cseq: 1 + Math.floor(this.rand() * 50),
      lastModified: now,
      flags: 0,
      cflags: this.rand() < 0.3 ? 'NAT' : null,
      userAgent: this.pick(USER_AGENTS),
      socket: `${transport}:192.0.2.10:${transport === 'tls' ? 5061 : 5060}`,
      methods: this.rand() < 0.5 ? 8191 : null,
      sipInstance: this.rand() < 0.2 ? `<urn:uuid:${this.uuid()}>` : null,
      attr: null,
    };
  }

  /** A REGISTER refresh of an existing binding: later expiry, next CSeq, same Call-ID. */
  refresh(row: LegacyRow): LegacyRow {
    const now = this.now();
    return { ...row, expires: now + 600 + Math.floor(this.rand() * 3000), cseq: row.cseq + 1, lastModified: now };
  }

  /** 0..1 from the workload's stream, for callers choosing what to do next. */
  next(): number {
    return this.rand();
  }

  private uuid(): string {
    const hex = (n: number): string => Array.from({ length: n }, () => Math.floor(this.rand() * 16).toString(16)).join('');
    return `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`;
  }
}
