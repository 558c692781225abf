/** TLS errors that mean "this process does not trust the server's certificate" (so a CA would help). */
const UNTRUSTED = /SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|CERT_UNTRUSTED|ERR_TLS_CERT/;

export function isUntrustedCertificate(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && UNTRUSTED.test(code);
}
