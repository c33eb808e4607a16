/**
 * A tiny SIP UDP client for tests: sends REGISTER requests to a registrar on 127.0.0.1 and waits
 * for the final response. Enough to register, refresh and remove contacts on a real OpenSIPS; no
 * authentication, no retransmission beyond a fixed number of tries, loopback only.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';

export interface RegisterOptions {
  /** AOR user part, e.g. "alice". */
  user: string;
  /** AOR domain (the request URI host), e.g. "example.com". */
  domain: string;
  /** Contact URI, without angle brackets (default: sip:USER@127.0.0.1:LOCALPORT). "*" removes all. */
  contact?: string;
  /** Contact header parameters appended after the URI, e.g. ';+sip.instance="<urn:uuid:...>";reg-id=1'. */
  contactParams?: string;
  /** Expires header value (0 removes). */
  expires: number;
  callId: string;
  cseq: number;
  userAgent?: string;
  /** Extra header lines, e.g. ["Path: <sip:edge.example.com;lr>", "Supported: path"]. */
  headers?: string[];
  /** Contact q value, as a string ("0.5"). */
  q?: string;
}

export interface SipResponse {
  status: number;
  reason: string;
  raw: string;
}

export class SipClient {
  private constructor(
    private readonly sock: Socket,
    readonly localPort: number,
    private readonly server: { host: string; port: number },
  ) {}

  static async open(server: { host?: string; port: number }): Promise<SipClient> {
    const host = server.host ?? '127.0.0.1';
    if (host !== '127.0.0.1' && host !== 'localhost') throw new Error('SipClient talks to 127.0.0.1 only');
    const sock = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, '127.0.0.1', () => resolve());
    });
    return new SipClient(sock, sock.address().port, { host: '127.0.0.1', port: server.port });
  }

  async register(o: RegisterOptions, timeoutMs = 3000): Promise<SipResponse> {
    const branch = `z9hG4bK${randomBytes(8).toString('hex')}`;
    const tag = randomBytes(6).toString('hex');
    const contactUri = o.contact ?? `sip:${o.user}@127.0.0.1:${this.localPort}`;
    const contact = contactUri === '*' ? '*' : `<${contactUri}>${o.q ? `;q=${o.q}` : ''}${o.contactParams ?? ''}`;
    const lines = [
      `REGISTER sip:${o.domain} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.localPort};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <sip:${o.user}@${o.domain}>;tag=${tag}`,
      `To: <sip:${o.user}@${o.domain}>`,
      `Call-ID: ${o.callId}`,
      `CSeq: ${o.cseq} REGISTER`,
      `Contact: ${contact}`,
      `Expires: ${o.expires}`,
      ...(o.userAgent ? [`User-Agent: ${o.userAgent}`] : []),
      ...(o.headers ?? []),
      'Content-Length: 0',
      '',
      '',
    ];
    return this.transact(Buffer.from(lines.join('\r\n')), branch, `REGISTER ${o.user} (Call-ID ${o.callId}, CSeq ${o.cseq})`, timeoutMs);
  }

  /** OPTIONS to sip:user@domain (a registrar script may answer it with its lookup() result). */
  async options(user: string, domain: string, timeoutMs = 3000): Promise<SipResponse> {
    const branch = `z9hG4bK${randomBytes(8).toString('hex')}`;
    const callId = randomBytes(8).toString('hex');
    const lines = [
      `OPTIONS sip:${user}@${domain} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.localPort};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <sip:probe@${domain}>;tag=${randomBytes(6).toString('hex')}`,
      `To: <sip:${user}@${domain}>`,
      `Call-ID: ${callId}`,
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '',
      '',
    ];
    return this.transact(Buffer.from(lines.join('\r\n')), branch, `OPTIONS ${user}@${domain}`, timeoutMs);
  }

  private transact(msg: Buffer, branch: string, what: string, timeoutMs: number): Promise<SipResponse> {
    return new Promise<SipResponse>((resolve, reject) => {
      let tries = 0;
      const send = (): void => {
        tries++;
        this.sock.send(msg, this.server.port, this.server.host);
      };
      const onMessage = (buf: Buffer): void => {
        const raw = buf.toString('utf8');
        if (!raw.includes(branch)) return;
        const m = /^SIP\/2\.0 (\d{3}) ([^\r\n]*)/.exec(raw);
        if (!m) return;
        const status = Number(m[1]);
        if (status < 200) return;
        cleanup();
        resolve({ status, reason: m[2] ?? '', raw });
      };
      const retry = setInterval(() => {
        if (tries < 4) send();
      }, 500);
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no final response to ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearInterval(retry);
        clearTimeout(timer);
        this.sock.off('message', onMessage);
      };
      this.sock.on('message', onMessage);
      send();
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.sock.close(() => resolve()));
  }
}
