// Unit tests of the SDK's pure parts (JSON, UTF-8, results), compiled by unit.test.js and run in
// Node without a host: every exported `test_*` function aborts on its first failed check. The
// lifecycle-hooks glue is exported too, with the `Echo` hooks below, for unit.test.js to call
// as the host would.

import { JSON, JSONKind, JSONValue } from "../assembly/json";
import { decodeText, isUtf8 } from "../assembly/message";
import { ErrorKind, HostError, Result, errorKindOf } from "../assembly/result";
import { utf8 } from "../assembly/abi";
import {
  Caller, CallerKind, Decision, Lifecycle, Operation, Request, operationName, registerLifecycle,
} from "../assembly/lifecycle";
import "../assembly/runtime";

export {
  __switchyard_before, __switchyard_post_before, __switchyard_after, __switchyard_post_after, cabi_realloc,
} from "../assembly/lifecycle-exports";

function eq(actual: string, expected: string, what: string): void {
  if (actual != expected) throw new Error(what + ": expected " + JSON.quote(expected) + ", got " + JSON.quote(actual));
}

function parse(text: string): JSONValue {
  const r = JSON.parse(text);
  if (r.isErr) throw new Error("parse " + JSON.quote(text) + " failed: " + r.error!.message);
  return r.unwrap();
}

function parseError(text: string): string {
  const r = JSON.parse(text);
  if (r.isOk) throw new Error("parse " + JSON.quote(text) + " should fail, got " + r.unwrap().stringify());
  if (r.error!.kind != ErrorKind.Invalid) throw new Error("a JSON syntax error should be kind invalid");
  return r.error!.message;
}

function bytes(values: u8[]): Uint8Array {
  const b = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) b[i] = values[i];
  return b;
}

export function test_json_round_trips_values_in_member_order(): void {
  const text = "{\"z\":1,\"a\":[true,false,null,-2.5,\"x\"],\"m\":{\"n\":{}},\"e\":[]}";
  eq(parse(text).stringify(), text, "round trip");
  eq(parse(" \t\n\r{ \"a\" : [ 1 , 2 ] } \n").stringify(), "{\"a\":[1,2]}", "whitespace");
}

export function test_json_numbers(): void {
  eq(parse("[0,-0,3,2.5,1e3,1E-2,-12.75e+1,9007199254740991,1e300]").stringify(),
    "[0,0,3,2.5,1000,0.01,-127.5,9007199254740991,1e+300]", "numbers");
  eq(JSON.numberValue(NaN).stringify(), "null", "NaN");
  eq(JSON.numberValue(Infinity).stringify(), "null", "Infinity");
  eq(JSON.numberValue(7.5).stringify(), "7.5", "fraction");
  eq(JSON.numberValue(3.0).stringify(), "3", "whole number");
}

export function test_json_strings_and_escapes(): void {
  const v = parse("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude80 gr\u00fc\u00dfe\"");
  eq(v.asString(), "a\"b\\c/d\b\f\n\r\té🚀 grüße", "decoded");
  eq(v.stringify(), "\"a\\\"b\\\\c/d\\b\\f\\n\\r\\té🚀 grüße\"", "re-encoded");
  eq(JSON.quote("\u0001x\u001f"), "\"\\u0001x\\u001f\"", "control characters");
  eq(JSON.quote(""), "\"\"", "empty");
}

export function test_json_accessors(): void {
  const o = parse("{\"s\":\"x\",\"n\":2,\"b\":true,\"z\":null,\"s\":\"last\"}");
  eq(o.getString("s")!, "last", "a repeated member keeps the last value");
  if (o.length != 4) throw new Error("4 members expected, got " + o.length.toString());
  if (o.getNumber("n") != 2) throw new Error("getNumber");
  if (!isNaN(o.getNumber("s"))) throw new Error("getNumber of a string should be NaN");
  if (!isNaN(o.getNumber("missing"))) throw new Error("getNumber of a missing member should be NaN");
  if (o.getString("n") !== null) throw new Error("getString of a number should be null");
  if (!o.getBool("b") || o.getBool("z", true) != true) throw new Error("getBool");
  if (!o.has("z") || o.get("z")!.kind != JSONKind.Null || o.get("nope") !== null) throw new Error("get/has");
  eq(o.keys().join(","), "s,n,b,z", "keys in order");
  const built = JSON.objectValue().setString("k", "v").setNumber("n", 1).setBool("t", true).setNull("z")
    .set("a", JSON.arrayValue().push(JSON.numberValue(1)).push(JSON.stringValue("two")));
  eq(built.stringify(), "{\"k\":\"v\",\"n\":1,\"t\":true,\"z\":null,\"a\":[1,\"two\"]}", "builder");
}

export function test_json_syntax_errors_say_what_and_where(): void {
  eq(parseError(""), "invalid JSON: expected a value at the end of the text", "empty");
  eq(parseError("{\"a\":1,}"), "invalid JSON: expected a member name in quotes at character 7", "trailing comma");
  eq(parseError("[1 2]"), "invalid JSON: expected ',' or ']' after an array element at character 3", "missing comma");
  eq(parseError("{\"a\" 1}"), "invalid JSON: expected ':' after a member name at character 5", "missing colon");
  eq(parseError("\"abc"), "invalid JSON: unterminated string at the end of the text", "unterminated");
  eq(parseError("\"a\nb\""), "invalid JSON: control character in a string (escape it) at character 2", "raw newline");
  eq(parseError("\"\\x\""), "invalid JSON: invalid escape in a string at character 2", "bad escape");
  eq(parseError("\"\\u12g4\""), "invalid JSON: expected four hex digits after \\u at character 5", "bad unicode escape");
  eq(parseError("01"), "invalid JSON: unexpected text after the JSON value at character 1", "leading zero");
  eq(parseError("1."), "invalid JSON: expected a digit after the decimal point at the end of the text", "bare point");
  eq(parseError("-"), "invalid JSON: expected a digit at the end of the text", "bare minus");
  eq(parseError("tru"), "invalid JSON: unexpected character 't' at character 0", "truncated literal");
  eq(parseError("{not json"), "invalid JSON: expected a member name in quotes at character 1", "unquoted name");
  eq(parseError("[1] x"), "invalid JSON: unexpected text after the JSON value at character 4", "trailing text");
  eq(parseError("[".repeat(300)), "invalid JSON: nesting deeper than 256 levels at character 256", "depth");
  eq(parse("[".repeat(256) + "]".repeat(256)).length.toString(), "1", "256 levels are fine");
}

export function test_utf8_decoding_replaces_only_invalid_bytes(): void {
  eq(decodeText(bytes([0x61, 0xc3, 0xa9, 0xe2, 0x98, 0x83, 0xf0, 0x9f, 0x9a, 0x80])), "aé☃🚀", "valid");
  eq(decodeText(bytes([0x61, 0xff, 0x62])), "a\uFFFDb", "invalid byte");
  eq(decodeText(bytes([0xc0, 0x80])), "\uFFFD\uFFFD", "overlong");
  eq(decodeText(bytes([0xed, 0xa0, 0x80])), "\uFFFD\uFFFD\uFFFD", "encoded surrogate");
  eq(decodeText(bytes([0x61, 0xe2, 0x98])), "a\uFFFD\uFFFD", "truncated");
  eq(decodeText(bytes([0xf4, 0x90, 0x80, 0x80])), "\uFFFD\uFFFD\uFFFD\uFFFD", "above U+10FFFF");
  eq(decodeText(new Uint8Array(0)), "", "empty");
  if (!isUtf8(bytes([0xf0, 0x9f, 0x9a, 0x80])) || isUtf8(bytes([0x80]))) throw new Error("isUtf8");
}

export function test_lone_surrogates_are_sent_as_replacement_characters(): void {
  const b = Uint8Array.wrap(utf8("a\uD800b"));
  eq(b.join(","), "97,239,191,189,98", "UTF-8 of a lone surrogate");
}

export function test_results_and_errors(): void {
  const e = new HostError(ErrorKind.NotFound, "no object with id 42");
  eq(e.toString(), "not-found: no object with id 42", "toString");
  eq(new HostError(ErrorKind.LimitExceeded, "x").kindName, "limit-exceeded", "kindName");
  const failed = Result.err<string>(e);
  if (!failed.isErr || failed.isOk) throw new Error("isErr");
  eq(failed.unwrapOr("fallback"), "fallback", "unwrapOr");
  eq(Result.ok<string>("v").unwrap(), "v", "unwrap");
  if (Result.err<bool>(e).unwrapOr(true) != true) throw new Error("unwrapOr bool");
}

export function test_host_error_cases_decode_in_wit_order(): void {
  const names = ["not-found", "invalid", "limit-exceeded", "other", "denied"];
  for (let tag = 0; tag < names.length; tag++) {
    eq(new HostError(errorKindOf(tag), "m").kindName, names[tag], "case " + tag.toString());
  }
  eq(new HostError(errorKindOf(5), "m").kindName, "other", "a case this SDK does not know");
  eq(new HostError(errorKindOf(255), "m").kindName, "other", "case 255");
  eq(new HostError(ErrorKind.Denied, "type MQTTClient is built in").toString(),
    "denied: type MQTTClient is built in", "denied toString");
}

export function test_operations_and_caller_kinds_in_wit_order(): void {
  const names = ["connect", "disconnect", "read", "create", "update", "delete", "subscribe", "unsubscribe"];
  for (let tag = 0; tag < names.length; tag++) eq(operationName(<Operation>tag), names[tag], "case " + tag.toString());
  if (Operation.Unsubscribe != 7 || CallerKind.Device != 0 || CallerKind.Token != 2) throw new Error("case numbers");
}

export function test_request_parses_data_and_query_objects(): void {
  const caller = new Caller(CallerKind.Device, "acme-1", "acme");
  const create = new Request(Operation.Create, caller, "Note", "", "{\"text\":\"hi\"}", "null");
  eq(create.dataObject()!.getString("text")!, "hi", "data");
  if (create.queryObject() !== null) throw new Error("a null query is no object");
  eq(create.operationName, "create", "operationName");
  const read = new Request(Operation.Read, caller, "Note", "", "null", "{\"filters\":[],\"limit\":5}");
  if (read.dataObject() !== null) throw new Error("null data is no object");
  if (read.queryObject()!.getNumber("limit") != 5) throw new Error("query");
  if (new Request(Operation.Read, caller, "Note", "", "[1]", "{oops").queryObject() !== null) {
    throw new Error("invalid JSON is no object");
  }
}

// What unit.test.js's lifecycle tests expect, by entity: each decision echoes parts of the
// request, so the tests see that the glue lifted it whole.
class Echo extends Lifecycle {
  before(request: Request): Decision {
    const entity = request.entity;
    const caller = request.caller;
    if (entity == "Deny") {
      return Decision.deny("denied", request.operationName + " by " + caller.kind.toString() + ":" + caller.name +
        " in " + caller.tenant + " of " + request.recordId);
    }
    if (entity == "Empty") return Decision.deny("", "");
    if (entity == "Modify") return Decision.modify(request.data, request.query);
    if (entity == "Filters") return Decision.modify(null, "[]");
    if (entity == "Fail") return Decision.fail("no " + request.operationName + " for " + caller.name);
    if (entity == "Trap") throw new Error("trapping on " + request.recordId);
    return Decision.allow();
  }

  after(request: Request, outcome: string): string | null {
    return request.entity == "Fail" ? request.operationName + " " + request.recordId + " " + outcome : null;
  }
}

registerLifecycle(new Echo());

// Checks that a failed check really fails the test (see unit.test.js).
export function test_failing_check_aborts(): void {
  eq("actual", "expected", "deliberate");
}
