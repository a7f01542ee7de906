// Test fixture, not an example: the AssemblyScript twin of the Rust `chaos` plugin, so the host's
// tests can run the same failure and glue checks against the AssemblyScript SDK's canonical-ABI
// glue (strings, byte lists, options, results, errors, traps).
//
// The payload is `<command>[ <argument>]`; the command selects the behaviour. The commands the
// Rust `chaos` plugin has behave as there (same object types and fields), plus three of its own:
//
// | command | does |
// |---|---|
// | `ok [n]` | creates `ChaosRecord {command, topic, n}` (`n` is the argument as JSON, or as a string when it is not JSON; left out when absent) and returns ok |
// | `fail` | creates a `ChaosRecord`, then returns the error "asked to fail" |
// | `trap` | creates a `ChaosRecord`, then throws (the SDK logs the reason at error level and the instance traps) |
// | `loop` | creates a `ChaosRecord`, then loops forever (the host's deadline must stop it) |
// | `oom` | creates a `ChaosRecord`, then allocates until memory runs out (a trap) |
// | `log` | logs one line at each level |
// | `echo ...` | creates `Echo {topic, size, text, sha256}` (`text` is the payload when it is UTF-8, left out otherwise; `sha256` is the payload's, in hex) and publishes the payload unchanged to `echo/<topic>` on the same client |
// | `readback` | creates, reads, finds, updates and deletes `ReadBack` objects, returning an error if any read misses the invocation's own writes; keeps one `ReadBack {role: "kept", v: 2}` |
// | `badcalls` | makes host calls with bad input (invalid JSON to create, an unknown id to update, an unknown client to publish) and stores the error kinds it got in `BadCalls {create, update, publish}` (`"invalid"`, `"not-found"`, ... or `"ok"`), plus the messages in `createMessage`, `updateMessage`, `publishMessage` |
// | `slow-ok` | does a few milliseconds of busy work, then creates a `ChaosRecord` and returns ok |
// | `roundtrip <text>` | creates `RoundTrip {text, length}` (`length` in UTF-16 units), reads it back with `get` and `find` and returns an error unless both return the same text |
// | `meta` | creates `Meta {topic, clientId, subscriberId, key, headers, timestampMs}` (`key` and header values as text, `key` left out when absent, `headers` an object) |
// | `denied` | tries to create an `MQTTClient` and to find `MQTTClient` objects (calls a plugin's default capabilities refuse) and stores the error kinds it got in `Denied {create, find}` (`"denied"`, ... or `"ok"`), plus the messages in `createMessage`, `findMessage` |
//
// Every failing command first creates a `ChaosRecord`, so a test can check that the failed
// invocation's writes were discarded.

import {
  HostError, JSON, JSONValue, Message, Outcome, err, isUtf8, decodeText, log, messaging, objects, ok, register,
} from "switchyard-plugin";
import { sha256Hex } from "./sha256";

export * from "switchyard-plugin/exports";

function glue(message: Message): Outcome {
  const payload = message.payload;
  const space = payload.indexOf(0x20);
  const commandBytes = space < 0 ? payload : payload.subarray(0, space);
  if (!isUtf8(commandBytes)) return err("the command (the payload up to its first space) is not UTF-8");
  const command = decodeText(commandBytes).trim();
  const argument: Uint8Array | null = space < 0 ? null : payload.subarray(space + 1);

  if (command == "ok") return outcomeOf(record(command, message, argument));
  if (command == "fail") return failAfterRecord(command, message, "asked to fail");
  if (command == "trap") {
    const e = record(command, message, null);
    if (e !== null) return err(e.toString());
    throw new Error("asked to trap");
  }
  if (command == "loop") {
    const e = record(command, message, null);
    if (e !== null) return err(e.toString());
    while (true) spin++;
  }
  if (command == "oom") {
    const e = record(command, message, null);
    if (e !== null) return err(e.toString());
    return exhaustMemory();
  }
  if (command == "log") {
    writeLogs(message.topic);
    return ok();
  }
  if (command == "echo") return echo(message);
  if (command == "readback") return readBack();
  if (command == "badcalls") return badCalls();
  if (command == "slow-ok") {
    busyWork();
    return outcomeOf(record(command, message, null));
  }
  if (command == "roundtrip") return roundTrip(argument !== null ? decodeText(argument) : "");
  if (command == "meta") return meta(message);
  if (command == "denied") return deniedCalls();
  return err(
    "unknown glue command `" + command + "`: expected ok, fail, trap, loop, oom, log, echo, readback, " +
      "badcalls, slow-ok, roundtrip, meta or denied",
  );
}

// Keeps `loop` and `slow-ok` from being optimized away.
let spin: u64 = 0;

function outcomeOf(error: HostError | null): Outcome {
  return error === null ? ok() : err(error.toString());
}

function failAfterRecord(command: string, message: Message, reason: string): Outcome {
  const e = record(command, message, null);
  return err(e !== null ? e.toString() : reason);
}

function record(command: string, message: Message, argument: Uint8Array | null): HostError | null {
  const obj = JSON.objectValue().setString("command", command).setString("topic", message.topic);
  if (argument !== null) {
    const text = decodeText(argument);
    const parsed = JSON.parse(text);
    obj.set("n", parsed.isOk ? parsed.unwrap() : JSON.stringValue(text));
  }
  const created = objects.create("ChaosRecord", obj.stringify());
  return created.error;
}

function exhaustMemory(): Outcome {
  const chunks = new Array<Uint8Array>();
  while (true) {
    const chunk = new Uint8Array(1 << 20);
    chunk.fill(1);
    chunks.push(chunk);
  }
}

function writeLogs(topic: string): void {
  log.trace("chaos trace line for " + topic);
  log.debug("chaos debug line for " + topic);
  log.info("chaos info line for " + topic);
  log.warn("chaos warn line for " + topic);
  log.error("chaos error line for " + topic);
}

function echo(message: Message): Outcome {
  const payload = message.payload;
  const obj = JSON.objectValue()
    .setString("topic", message.topic)
    .setNumber("size", payload.length)
    .setString("sha256", sha256Hex(payload));
  if (isUtf8(payload)) obj.setString("text", decodeText(payload));
  const created = objects.create("Echo", obj.stringify());
  if (created.isErr) return err(created.error!.toString());
  return outcomeOf(messaging.publish(message.clientId, "echo/" + message.topic, payload));
}

function readBack(): Outcome {
  const kept = objects.create("ReadBack", "{\"role\":\"kept\",\"v\":1}");
  if (kept.isErr) return err(kept.error!.toString());
  const keptId = kept.unwrap();
  let problem = expectV(keptId, 1, "get after create");
  if (problem !== null) return err(problem);

  const found = objects.find("ReadBack", "{\"role\":\"kept\",\"v\":1}");
  if (found.isErr) return err(found.error!.toString());
  const list = JSON.parse(found.unwrap());
  if (list.isErr) return err("find returned invalid JSON: " + list.error!.message);
  if (!containsId(list.unwrap(), keptId)) return err("find after create did not return the new object `" + keptId + "`");

  const updated = objects.update(keptId, "{\"v\":2}");
  if (updated !== null) return err(updated.toString());
  problem = expectV(keptId, 2, "get after update");
  if (problem !== null) return err(problem);

  const doomed = objects.create("ReadBack", "{\"role\":\"deleted\",\"v\":1}");
  if (doomed.isErr) return err(doomed.error!.toString());
  const doomedId = doomed.unwrap();
  const deleted = objects.delete(doomedId);
  if (deleted.isErr) return err(deleted.error!.toString());
  if (!deleted.unwrap()) return err("delete did not find the object `" + doomedId + "` created just before");
  const gone = objects.get(doomedId);
  if (gone.isErr) return err(gone.error!.toString());
  if (gone.unwrap() !== null) return err("get after delete still returns `" + doomedId + "`");
  return ok();
}

function containsId(list: JSONValue, id: string): bool {
  if (!list.isArray) return false;
  const items = list.items();
  for (let i = 0; i < items.length; i++) {
    if (items[i].getString("id") == id) return true;
  }
  return false;
}

// A reason if object `id` is missing or its `v` is not `expected`.
function expectV(id: string, expected: f64, step: string): string | null {
  const got = objects.get(id);
  if (got.isErr) return step + ": " + got.error!.toString();
  const text = got.unwrap();
  if (text === null) return step + ": object `" + id + "` is missing";
  const parsed = JSON.parse(text);
  if (parsed.isErr) return step + ": get returned invalid JSON: " + parsed.error!.message;
  const v = parsed.unwrap().getNumber("v");
  if (v != expected) return step + ": object `" + id + "` has v = " + v.toString() + ", expected " + expected.toString();
  return null;
}

function badCalls(): Outcome {
  const create = objects.create("BadCallsTarget", "{not json").error;
  const update = objects.update("no-such-object", "{\"v\":1}");
  const publish = messaging.publishText("no-such-client", "chaos/bad", "x");
  const obj = JSON.objectValue();
  describe(obj, "create", create);
  describe(obj, "update", update);
  describe(obj, "publish", publish);
  return outcomeOf(objects.create("BadCalls", obj.stringify()).error);
}

function deniedCalls(): Outcome {
  const client = JSON.objectValue().setString("name", "glue-evil").setString("mainBrokerURL", "mqtt://127.0.0.1:1");
  const create = objects.create("MQTTClient", client.stringify()).error;
  const find = objects.find("MQTTClient", "{}").error;
  const obj = JSON.objectValue();
  describe(obj, "create", create);
  describe(obj, "find", find);
  return outcomeOf(objects.create("Denied", obj.stringify()).error);
}

function describe(obj: JSONValue, call: string, error: HostError | null): void {
  obj.setString(call, error === null ? "ok" : error.kindName);
  if (error !== null) obj.setString(call + "Message", error.message);
}

function busyWork(): void {
  let x: u64 = 0x9e3779b97f4a7c15;
  for (let i: u64 = 0; i < 2_000_000; i++) x = (rotl<u64>(x, 5) ^ i) * 0x5851f42d4c957f2d;
  spin += x;
}

function roundTrip(text: string): Outcome {
  const created = objects.create("RoundTrip", JSON.objectValue().setString("text", text).setNumber("length", text.length).stringify());
  if (created.isErr) return err(created.error!.toString());
  const id = created.unwrap();

  const got = objects.get(id);
  if (got.isErr) return err("get: " + got.error!.toString());
  const json = got.unwrap();
  if (json === null) return err("get: the new object `" + id + "` is missing");
  const obj = JSON.parse(json);
  if (obj.isErr) return err("get returned invalid JSON: " + obj.error!.message);
  const back = obj.unwrap().getString("text");
  if (back === null || back != text) return err("get returned different text (" + describeText(back) + " instead of " + describeText(text) + ")");

  const found = objects.find("RoundTrip", JSON.objectValue().setString("text", text).stringify());
  if (found.isErr) return err("find: " + found.error!.toString());
  const list = JSON.parse(found.unwrap());
  if (list.isErr) return err("find returned invalid JSON: " + list.error!.message);
  if (!containsId(list.unwrap(), id)) return err("find by text did not return the new object `" + id + "`");
  return ok();
}

function describeText(text: string | null): string {
  if (text === null) return "no text";
  return text.length.toString() + " UTF-16 units starting " + JSON.quote(text.substring(0, 16));
}

function meta(message: Message): Outcome {
  const headers = JSON.objectValue();
  for (let i = 0; i < message.headers.length; i++) {
    const h = message.headers[i];
    headers.setString(h.name, h.valueText());
  }
  const obj = JSON.objectValue()
    .setString("topic", message.topic)
    .setString("clientId", message.clientId)
    .setString("subscriberId", message.subscriberId)
    .set("headers", headers)
    .setNumber("timestampMs", <f64>message.timestampMs);
  const key = message.keyText();
  if (key !== null) obj.setString("key", key);
  return outcomeOf(objects.create("Meta", obj.stringify()).error);
}

// Last, so every module-level value the handler uses is initialized first.
register(glue);
