// The message a handler runs for, as AssemblyScript values, and the text view of its bytes.

/** One message header (Kafka) or property (Pulsar); MQTT messages have none. */
export class Header {
  constructor(
    public readonly name: string,
    public readonly value: Uint8Array,
  ) {}

  /** The value as text (invalid UTF-8 becomes U+FFFD). */
  valueText(): string {
    return decodeText(this.value);
  }
}

/** One message as it arrived from a broker. */
export class Message {
  constructor(
    /** The topic (MQTT), topic name (Kafka) or topic URL (Pulsar) it arrived on. */
    public readonly topic: string,
    /** The message body, exactly as received. */
    public readonly payload: Uint8Array,
    /** The id of the client object the message arrived on. */
    public readonly clientId: string,
    /** The id of the subscriber object this invocation runs for; read it with `objects.get`
     *  to find the subscriber's settings. */
    public readonly subscriberId: string,
    /** The message key, where the broker has one (Kafka, Pulsar). */
    public readonly key: Uint8Array | null,
    /** Headers or properties, where the broker has them. */
    public readonly headers: Array<Header>,
    /** When the host received the message, in milliseconds since the Unix epoch. */
    public readonly timestampMs: u64,
  ) {}

  /** Whether the payload is well-formed UTF-8 text. */
  payloadIsText(): bool {
    return isUtf8(this.payload);
  }

  /** The payload as text (invalid UTF-8 becomes U+FFFD). */
  payloadText(): string {
    return decodeText(this.payload);
  }

  /** The key as text, or null if the message has no key. */
  keyText(): string | null {
    const key = this.key;
    return key === null ? null : decodeText(key);
  }

  /** The value of the first header called `name`, or null. */
  header(name: string): Uint8Array | null {
    for (let i = 0; i < this.headers.length; i++) {
      const h = unchecked(this.headers[i]);
      if (h.name == name) return h.value;
    }
    return null;
  }

  /** The first header called `name` as text, or null. */
  headerText(name: string): string | null {
    const value = this.header(name);
    return value === null ? null : decodeText(value);
  }
}

/** Whether `bytes` is well-formed UTF-8. */
export function isUtf8(bytes: Uint8Array): bool {
  return validPrefix(bytes.dataStart, bytes.dataStart + <usize>bytes.byteLength) == bytes.byteLength;
}

// How many leading bytes in [start, end) form well-formed UTF-8.
function validPrefix(start: usize, end: usize): usize {
  let at = start;
  while (at < end) {
    const n = sequenceLength(at, end);
    if (n == 0) break;
    at += n;
  }
  return at - start;
}

/** Decodes UTF-8; each byte that does not start a well-formed sequence becomes U+FFFD, as a
 *  payload is whatever a device sent and need not be text. */
export function decodeText(bytes: Uint8Array): string {
  const start = bytes.dataStart;
  const end = start + <usize>bytes.byteLength;
  // Fast path: the usual payload is valid and decodes in one go.
  const valid = validPrefix(start, end);
  if (start + valid == end) return String.UTF8.decodeUnsafe(start, valid, false);

  const parts = new Array<string>();
  let run = start;
  let at = start + valid;
  while (at < end) {
    const n = sequenceLength(at, end);
    if (n != 0) {
      at += n;
      continue;
    }
    if (at > run) parts.push(String.UTF8.decodeUnsafe(run, at - run, false));
    parts.push("\uFFFD");
    at += 1;
    run = at;
  }
  if (end > run) parts.push(String.UTF8.decodeUnsafe(run, end - run, false));
  return parts.join("");
}

// The length of the well-formed UTF-8 sequence at `at` (RFC 3629 table 3-7), or 0.
function sequenceLength(at: usize, end: usize): usize {
  const b0 = <u32>load<u8>(at);
  if (b0 < 0x80) return 1;
  let n: usize;
  let lo: u32 = 0x80;
  let hi: u32 = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    n = 2;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    n = 3;
    if (b0 == 0xe0) lo = 0xa0;
    else if (b0 == 0xed) hi = 0x9f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    n = 4;
    if (b0 == 0xf0) lo = 0x90;
    else if (b0 == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (end - at < n) return 0;
  const b1 = <u32>load<u8>(at, 1);
  if (b1 < lo || b1 > hi) return 0;
  for (let i: usize = 2; i < n; i++) {
    const b = <u32>load<u8>(at + i);
    if (b < 0x80 || b > 0xbf) return 0;
  }
  return n;
}
