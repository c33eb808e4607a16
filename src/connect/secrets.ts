/**
 * Passwords of captured databases. Kafka Connect never gets a literal password from ulbridge: it
 * gets `capture.password`, a config provider reference (`${env:VAR}`, `${file:PATH:KEY}`,
 * `${dir:PATH:FILE}`) that the worker resolves with its `config.providers`. ulbridge itself (apply's
 * ALTER TABLE, status's lag queries) uses the URL's password, or resolves the same reference
 * locally when the URL has none.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UlbridgeError } from '../ops/errors.js';

/** Resolves a provider reference as Connect's EnvVar/File/DirectoryConfigProvider would. */
export function resolveProviderRef(ref: string, env: NodeJS.ProcessEnv = process.env): string {
  const m = /^\$\{(env|file|dir):(.+)\}$/.exec(ref);
  if (!m) throw new UlbridgeError('CONFIG_INVALID', `"${ref}" is not a config provider reference`);
  const [, provider, rest] = m as unknown as [string, string, string];
  if (provider === 'env') {
    const v = env[rest];
    if (v === undefined)
      throw new UlbridgeError(
        'CAPTURE_PASSWORD_UNAVAILABLE',
        `${ref}: environment variable ${rest} is not set in ulbridge's environment (ulbridge needs the password too, to reach the database)`,
      );
    return v;
  }
  const cut = rest.lastIndexOf(':');
  if (cut <= 0) throw new UlbridgeError('CONFIG_INVALID', `${ref}: expected \${${provider}:PATH:${provider === 'file' ? 'KEY' : 'FILE'}}`);
  const path = rest.slice(0, cut);
  const key = rest.slice(cut + 1);
  try {
    if (provider === 'dir') return readFileSync(join(path, key), 'utf8').replace(/\r?\n$/, '');
    for (const line of readFileSync(path, 'utf8').split(/\r?\n/)) {
      const l = line.trim();
      if (!l || l.startsWith('#') || l.startsWith('!')) continue;
      const sep = l.search(/[=:]/);
      if (sep > 0 && l.slice(0, sep).trim() === key) return l.slice(sep + 1).trim();
    }
  } catch (e) {
    throw new UlbridgeError('CAPTURE_PASSWORD_UNAVAILABLE', `${ref}: cannot read ${path}: ${(e as Error).message}`);
  }
  throw new UlbridgeError('CAPTURE_PASSWORD_UNAVAILABLE', `${ref}: no key ${key} in ${path}`);
}

/** The URL without its password (what Connect is told; the password goes in as a reference). */
export function withoutPassword(url: string): string {
  const u = new URL(url);
  u.password = '';
  return u.toString();
}

/** The URL ulbridge connects with: its own password, or the reference resolved locally. */
export function ulbridgeUrl(url: string, ref: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const u = new URL(url);
  if (u.password || ref === undefined) return url;
  u.password = encodeURIComponent(resolveProviderRef(ref, env));
  return u.toString();
}
