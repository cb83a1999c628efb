/**
 * The "short token" that identifies a runner entry in logs, metrics (`runner`
 * label), builds-dir paths and cache keys without revealing the secret: strip
 * the token-type prefix, then keep the first 9 characters.
 */

// glrt- (optionally with a partition prefix t1_..t3_), bare t1_..t3_,
// glrtr- (router), glcbt- (CI build token), legacy registration-era "GR" + 7 hex.
const TOKEN_PREFIX = /^(?:glrt-(?:t[1-3]_)?|t[1-3]_|glrtr-|glcbt-|GR[0-9a-fA-F]{7})/;

const SHORT_TOKEN_LENGTH = 9;

export function shortToken(token: string): string {
  return token.replace(TOKEN_PREFIX, "").slice(0, SHORT_TOKEN_LENGTH);
}
