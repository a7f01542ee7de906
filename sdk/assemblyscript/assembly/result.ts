// Errors as values: what a host call (or the SDK's JSON parser) hands back instead of throwing,
// so a handler can inspect the kind and decide whether to retry, skip or fail.

/** Why a host call failed; mirrors the WIT `error` variant, in its case order. */
export enum ErrorKind {
  /** The object, plugin or client named in the call does not exist. */
  NotFound = 0,
  /** The input was rejected: malformed JSON, a reserved or invalid property, a bad topic. */
  Invalid = 1,
  /** A per-invocation limit was reached; the message names it (host calls, bytes written,
   *  bytes published, publishes, object size, `find` rows). */
  LimitExceeded = 2,
  /** Anything else, described in words. */
  Other = 3,
  /** The plugin's capabilities do not allow the call: a built-in type, an object type it was
   *  not granted, or a client or topic it may not publish to. The message says which. */
  Denied = 4,
}

/** The kind for the WIT `error` case number `tag`; a case this SDK does not know is `Other`. */
export function errorKindOf(tag: i32): ErrorKind {
  return tag >= ErrorKind.NotFound && tag <= ErrorKind.Denied ? <ErrorKind>tag : ErrorKind.Other;
}

/** A failed call: its kind and the host's description. */
export class HostError {
  constructor(
    public readonly kind: ErrorKind,
    public readonly message: string,
  ) {}

  /** The WIT name of the kind: `not-found`, `invalid`, `limit-exceeded`, `other` or `denied`. */
  get kindName(): string {
    switch (this.kind) {
      case ErrorKind.NotFound: return "not-found";
      case ErrorKind.Invalid: return "invalid";
      case ErrorKind.LimitExceeded: return "limit-exceeded";
      case ErrorKind.Denied: return "denied";
      default: return "other";
    }
  }

  /** `kind: message`, e.g. `not-found: no object with id 42`. */
  toString(): string {
    return this.kindName + ": " + this.message;
  }
}

/** A value of type `T`, or the `HostError` that prevented it. */
export class Result<T> {
  private constructor(
    private readonly _value: T,
    public readonly error: HostError | null,
  ) {}

  static ok<T>(value: T): Result<T> {
    return new Result<T>(value, null);
  }

  static err<T>(error: HostError): Result<T> {
    // The value of a failed result is never handed out (see `unwrap`), so a zero is enough.
    if (isReference<T>()) return new Result<T>(changetype<T>(0), error);
    // @ts-ignore: T is a number or bool here
    return new Result<T>(<T>0, error);
  }

  get isOk(): bool {
    return this.error === null;
  }

  get isErr(): bool {
    return this.error !== null;
  }

  /** The value; aborts the invocation (it fails, nothing is committed) if this is an error. */
  unwrap(): T {
    const error = this.error;
    if (error !== null) throw new Error(error.toString());
    return this._value;
  }

  /** The value, or `fallback` if this is an error. */
  unwrapOr(fallback: T): T {
    return this.error === null ? this._value : fallback;
  }
}
