import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Looks a user up in /etc/passwd (undefined if absent). */
export function lookupUser(name: string): OsUser | undefined {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] === name && f.length >= 4) return { name, uid: Number(f[2]), gid: Number(f[3]) };
    }
  } catch {
    /* no passwd file */
  }
  return undefined;
}

/**
 * The first ancestor of `path` (itself included) that `user` cannot traverse, or undefined.
 * Supplementary groups are ignored, so this may report a false block for unusual setups.
 */
export function blockingAncestor(path: string, user: OsUser): string | undefined {
  let d = resolve(path);
  const chain: string[] = [];
  for (;;) {
    chain.unshift(d);
    const up = dirname(d);
    if (up === d) break;
    d = up;
  }
  for (const dir of chain) {
    let st;
    try {
      st = statSync(dir);
    } catch {
      return undefined; // does not exist yet: created by us below a reachable parent
    }
    const ok = st.uid === user.uid ? (st.mode & 0o100) !== 0 : st.gid === user.gid ? (st.mode & 0o010) !== 0 : (st.mode & 0o001) !== 0;
    if (!ok) return dir;
  }
  return undefined;
}
