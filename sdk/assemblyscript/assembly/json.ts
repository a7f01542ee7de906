// A small JSON value type with a strict parser and a serializer. Objects, queries and payloads
// are JSON text at the host boundary, and AssemblyScript has no JSON of its own.

import { ErrorKind, HostError, Result } from "./result";

/** What a `JSONValue` holds. */
export enum JSONKind {
  Null,
  Bool,
  Number,
  String,
  Array,
  Object,
}

// Nesting deeper than this is rejected rather than risking the wasm stack.
const MAX_DEPTH = 256;
// Integers up to 2^53 print without a fraction, as JavaScript prints them.
const MAX_SAFE_INTEGER: f64 = 9007199254740991;

/** A JSON value: null, boolean, number, string, array or object (members keep their order). */
export class JSONValue {
  private _items: Array<JSONValue> | null = null;
  private _keys: Array<string> | null = null;
  private _members: Map<string, JSONValue> | null = null;

  /** Prefer `JSON.objectValue()`, `JSON.stringValue(s)` and the other constructors. */
  constructor(
    public readonly kind: JSONKind,
    private readonly _bool: bool = false,
    private readonly _number: f64 = 0,
    private readonly _string: string = "",
  ) {
    if (kind == JSONKind.Array) {
      this._items = new Array<JSONValue>();
    } else if (kind == JSONKind.Object) {
      this._keys = new Array<string>();
      this._members = new Map<string, JSONValue>();
    }
  }

  get isNull(): bool { return this.kind == JSONKind.Null; }
  get isBool(): bool { return this.kind == JSONKind.Bool; }
  get isNumber(): bool { return this.kind == JSONKind.Number; }
  get isString(): bool { return this.kind == JSONKind.String; }
  get isArray(): bool { return this.kind == JSONKind.Array; }
  get isObject(): bool { return this.kind == JSONKind.Object; }

  /** The boolean; aborts if this is not one. */
  asBool(): bool {
    this.expect(JSONKind.Bool);
    return this._bool;
  }

  /** The number; aborts if this is not one. */
  asNumber(): f64 {
    this.expect(JSONKind.Number);
    return this._number;
  }

  /** The string; aborts if this is not one. */
  asString(): string {
    this.expect(JSONKind.String);
    return this._string;
  }

  /** The elements of an array; aborts if this is not one. */
  items(): Array<JSONValue> {
    this.expect(JSONKind.Array);
    return this._items!;
  }

  /** The member names of an object, in order; aborts if this is not one. */
  keys(): Array<string> {
    this.expect(JSONKind.Object);
    return this._keys!;
  }

  /** Whether this is an object with a member `key`. */
  has(key: string): bool {
    const members = this._members;
    return members !== null && members.has(key);
  }

  /** The member `key` of an object, or null if this is no object or has no such member. */
  get(key: string): JSONValue | null {
    const members = this._members;
    if (members === null || !members.has(key)) return null;
    return members.get(key);
  }

  /** The member `key` if it is a string, else null. */
  getString(key: string): string | null {
    const v = this.get(key);
    return v !== null && v.isString ? v._string : null;
  }

  /** The member `key` if it is a number, else NaN. */
  getNumber(key: string): f64 {
    const v = this.get(key);
    return v !== null && v.isNumber ? v._number : NaN;
  }

  /** The member `key` if it is a boolean, else `fallback`. */
  getBool(key: string, fallback: bool = false): bool {
    const v = this.get(key);
    return v !== null && v.isBool ? v._bool : fallback;
  }

  /** Sets the member `key` of an object (appended if new); aborts if this is not an object. */
  set(key: string, value: JSONValue): JSONValue {
    this.expect(JSONKind.Object);
    const members = this._members!;
    if (!members.has(key)) this._keys!.push(key);
    members.set(key, value);
    return this;
  }

  setString(key: string, value: string): JSONValue {
    return this.set(key, JSON.stringValue(value));
  }

  setNumber(key: string, value: f64): JSONValue {
    return this.set(key, JSON.numberValue(value));
  }

  setBool(key: string, value: bool): JSONValue {
    return this.set(key, JSON.boolValue(value));
  }

  setNull(key: string): JSONValue {
    return this.set(key, JSON.nullValue());
  }

  /** Appends to an array; aborts if this is not an array. */
  push(value: JSONValue): JSONValue {
    this.expect(JSONKind.Array);
    this._items!.push(value);
    return this;
  }

  /** Elements of an array, members of an object, else 0. */
  get length(): i32 {
    const items = this._items;
    if (items !== null) return items.length;
    const keys = this._keys;
    return keys !== null ? keys.length : 0;
  }

  /** The JSON text of this value (compact). */
  stringify(): string {
    const out = new Array<string>();
    this.write(out);
    return out.join("");
  }

  toString(): string {
    return this.stringify();
  }

  private write(out: Array<string>): void {
    switch (this.kind) {
      case JSONKind.Null: out.push("null"); break;
      case JSONKind.Bool: out.push(this._bool ? "true" : "false"); break;
      case JSONKind.Number: out.push(formatNumber(this._number)); break;
      case JSONKind.String: writeQuoted(this._string, out); break;
      case JSONKind.Array: {
        const items = this._items!;
        out.push("[");
        for (let i = 0; i < items.length; i++) {
          if (i > 0) out.push(",");
          unchecked(items[i]).write(out);
        }
        out.push("]");
        break;
      }
      default: {
        const keys = this._keys!;
        const members = this._members!;
        out.push("{");
        for (let i = 0; i < keys.length; i++) {
          if (i > 0) out.push(",");
          const key = unchecked(keys[i]);
          writeQuoted(key, out);
          out.push(":");
          members.get(key).write(out);
        }
        out.push("}");
      }
    }
  }

  private expect(kind: JSONKind): void {
    if (this.kind != kind) {
      throw new Error("expected a JSON " + kindName(kind) + ", found " + kindName(this.kind));
    }
  }
}

function kindName(kind: JSONKind): string {
  switch (kind) {
    case JSONKind.Null: return "null";
    case JSONKind.Bool: return "boolean";
    case JSONKind.Number: return "number";
    case JSONKind.String: return "string";
    case JSONKind.Array: return "array";
    default: return "object";
  }
}

function formatNumber(n: f64): string {
  if (!isFinite(n)) return "null";
  if (Math.floor(n) == n && Math.abs(n) <= MAX_SAFE_INTEGER) return (<i64>n).toString();
  return n.toString();
}

function hex4(code: u32): string {
  const digits = "0123456789abcdef";
  return "\\u00" + digits.charAt(<i32>(code >> 4)) + digits.charAt(<i32>(code & 15));
}

// Appends `s` as a JSON string literal, copying unescaped runs as slices.
function writeQuoted(s: string, out: Array<string>): void {
  out.push("\"");
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    const c = <u32>s.charCodeAt(i);
    let escape: string | null = null;
    if (c == 0x22) escape = "\\\"";
    else if (c == 0x5c) escape = "\\\\";
    else if (c < 0x20) {
      if (c == 0x0a) escape = "\\n";
      else if (c == 0x0d) escape = "\\r";
      else if (c == 0x09) escape = "\\t";
      else if (c == 0x08) escape = "\\b";
      else if (c == 0x0c) escape = "\\f";
      else escape = hex4(c);
    }
    if (escape !== null) {
      if (i > run) out.push(s.substring(run, i));
      out.push(escape);
      run = i + 1;
    }
  }
  if (run == 0) out.push(s);
  else if (run < s.length) out.push(s.substring(run));
  out.push("\"");
}

// Recursive descent over UTF-16 code units, per RFC 8259.
class Parser {
  pos: i32 = 0;
  error: string | null = null;
  private depth: i32 = 0;

  constructor(private readonly text: string) {}

  fail(what: string): JSONValue | null {
    if (this.error === null) {
      this.error = this.pos < this.text.length
        ? what + " at character " + this.pos.toString()
        : what + " at the end of the text";
    }
    return null;
  }

  peek(): i32 {
    return this.pos < this.text.length ? this.text.charCodeAt(this.pos) : -1;
  }

  skipSpace(): void {
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos);
      if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) break;
      this.pos++;
    }
  }

  literal(word: string): bool {
    if (this.text.substr(this.pos, word.length) != word) return false;
    this.pos += word.length;
    return true;
  }

  value(): JSONValue | null {
    this.skipSpace();
    const c = this.peek();
    if (c == 0x7b) return this.object();
    if (c == 0x5b) return this.array();
    if (c == 0x22) {
      const s = this.string();
      return s === null ? null : JSON.stringValue(s);
    }
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    if (this.literal("true")) return JSON.boolValue(true);
    if (this.literal("false")) return JSON.boolValue(false);
    if (this.literal("null")) return JSON.nullValue();
    return this.fail(c < 0 ? "expected a value" : "unexpected character '" + String.fromCharCode(c) + "'");
  }

  private enter(): bool {
    if (++this.depth > MAX_DEPTH) {
      this.fail("nesting deeper than " + MAX_DEPTH.toString() + " levels");
      return false;
    }
    return true;
  }

  object(): JSONValue | null {
    if (!this.enter()) return null;
    this.pos++; // {
    const obj = JSON.objectValue();
    this.skipSpace();
    if (this.peek() == 0x7d) {
      this.pos++;
      this.depth--;
      return obj;
    }
    while (true) {
      this.skipSpace();
      if (this.peek() != 0x22) return this.fail("expected a member name in quotes");
      const key = this.string();
      if (key === null) return null;
      this.skipSpace();
      if (this.peek() != 0x3a) return this.fail("expected ':' after a member name");
      this.pos++;
      const v = this.value();
      if (v === null) return null;
      obj.set(key, v);
      this.skipSpace();
      const c = this.peek();
      this.pos++;
      if (c == 0x2c) continue;
      if (c == 0x7d) break;
      this.pos--;
      return this.fail("expected ',' or '}' after an object member");
    }
    this.depth--;
    return obj;
  }

  array(): JSONValue | null {
    if (!this.enter()) return null;
    this.pos++; // [
    const arr = JSON.arrayValue();
    this.skipSpace();
    if (this.peek() == 0x5d) {
      this.pos++;
      this.depth--;
      return arr;
    }
    while (true) {
      const v = this.value();
      if (v === null) return null;
      arr.push(v);
      this.skipSpace();
      const c = this.peek();
      this.pos++;
      if (c == 0x2c) continue;
      if (c == 0x5d) break;
      this.pos--;
      return this.fail("expected ',' or ']' after an array element");
    }
    this.depth--;
    return arr;
  }

  // A string literal at `pos` (which is on the opening quote); null on error.
  string(): string | null {
    const text = this.text;
    this.pos++;
    let run = this.pos;
    let parts: Array<string> | null = null;
    while (true) {
      if (this.pos >= text.length) {
        this.fail("unterminated string");
        return null;
      }
      const c = text.charCodeAt(this.pos);
      if (c == 0x22) break;
      if (c < 0x20) {
        this.fail("control character in a string (escape it)");
        return null;
      }
      if (c != 0x5c) {
        this.pos++;
        continue;
      }
      if (parts === null) parts = new Array<string>();
      parts.push(text.substring(run, this.pos));
      const escaped = this.escape();
      if (escaped === null) return null;
      parts.push(escaped);
      run = this.pos;
    }
    const tail = text.substring(run, this.pos);
    this.pos++; // closing quote
    if (parts === null) return tail;
    parts.push(tail);
    return parts.join("");
  }

  // The escape at `pos` (on the backslash); null on error.
  private escape(): string | null {
    this.pos++;
    const c = this.peek();
    this.pos++;
    switch (c) {
      case 0x22: return "\"";
      case 0x5c: return "\\";
      case 0x2f: return "/";
      case 0x62: return "\b";
      case 0x66: return "\f";
      case 0x6e: return "\n";
      case 0x72: return "\r";
      case 0x74: return "\t";
      case 0x75: {
        let code = 0;
        for (let i = 0; i < 4; i++) {
          const h = this.peek();
          let d: i32;
          if (h >= 0x30 && h <= 0x39) d = h - 0x30;
          else if (h >= 0x61 && h <= 0x66) d = h - 0x61 + 10;
          else if (h >= 0x41 && h <= 0x46) d = h - 0x41 + 10;
          else {
            this.fail("expected four hex digits after \\u");
            return null;
          }
          code = (code << 4) | d;
          this.pos++;
        }
        // Surrogate pairs arrive as two escapes and pair up as UTF-16 code units do.
        return String.fromCharCode(code);
      }
    }
    this.pos--;
    this.fail("invalid escape in a string");
    return null;
  }

  number(): JSONValue | null {
    const text = this.text;
    const start = this.pos;
    if (this.peek() == 0x2d) this.pos++;
    if (this.peek() == 0x30) {
      this.pos++;
    } else if (!this.digits()) {
      return this.fail("expected a digit");
    }
    if (this.peek() == 0x2e) {
      this.pos++;
      if (!this.digits()) return this.fail("expected a digit after the decimal point");
    }
    const e = this.peek();
    if (e == 0x65 || e == 0x45) {
      this.pos++;
      const sign = this.peek();
      if (sign == 0x2b || sign == 0x2d) this.pos++;
      if (!this.digits()) return this.fail("expected a digit in the exponent");
    }
    return JSON.numberValue(parseFloat(text.substring(start, this.pos)));
  }

  private digits(): bool {
    const start = this.pos;
    while (true) {
      const c = this.peek();
      if (c < 0x30 || c > 0x39) break;
      this.pos++;
    }
    return this.pos > start;
  }
}

export namespace JSON {
  /** Parses JSON text. A syntax error comes back as an `ErrorKind.Invalid` error naming what was
   *  expected and where. */
  export function parse(text: string): Result<JSONValue> {
    const parser = new Parser(text);
    const value = parser.value();
    if (value !== null) {
      parser.skipSpace();
      if (parser.pos < text.length) parser.fail("unexpected text after the JSON value");
      else return Result.ok<JSONValue>(value);
    }
    return Result.err<JSONValue>(new HostError(ErrorKind.Invalid, "invalid JSON: " + parser.error!));
  }

  /** The JSON text of `value`. */
  export function stringify(value: JSONValue): string {
    return value.stringify();
  }

  /** `s` as a JSON string literal, quotes included: for building JSON text by hand. */
  export function quote(s: string): string {
    const out = new Array<string>();
    writeQuoted(s, out);
    return out.join("");
  }

  export function nullValue(): JSONValue {
    return new JSONValue(JSONKind.Null);
  }

  export function boolValue(b: bool): JSONValue {
    return new JSONValue(JSONKind.Bool, b);
  }

  export function numberValue(n: f64): JSONValue {
    return new JSONValue(JSONKind.Number, false, n);
  }

  export function stringValue(s: string): JSONValue {
    return new JSONValue(JSONKind.String, false, 0, s);
  }

  /** An empty array; add elements with `push`. */
  export function arrayValue(): JSONValue {
    return new JSONValue(JSONKind.Array);
  }

  /** An empty object; add members with `set`. */
  export function objectValue(): JSONValue {
    return new JSONValue(JSONKind.Object);
  }
}
