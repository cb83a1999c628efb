/**
 * A service command that cannot be carried out: bad flag combination, a
 * service manager command that failed, a file that cannot be written.
 * cli/ prints the message and exits 1.
 */
export class ServiceError extends Error {
  override readonly name = "ServiceError";
}
