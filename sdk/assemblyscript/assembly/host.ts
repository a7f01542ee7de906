// The typed host API: objects, messaging and logging as AssemblyScript calls. Each function
// lowers its arguments, calls the raw import and lifts the result from the return area.

import {
  RET_AREA, utf8, takeStringAt,
  objectsCreate, objectsGet, objectsFind, objectsUpdate, objectsDelete,
  messagingPublish, messagingSubscribe, messagingUnsubscribe, loggingLog,
} from "./abi";
import { HostError, Result, errorKindOf } from "./result";

// `result<T, error>` in the return area: u8 discriminant at 0 (1 = err), payload at 4.
function failed(): bool {
  return load<u8>(RET_AREA) != 0;
}

// The error variant at offset 4: u8 case at 4 (`ErrorKind` uses the WIT's case order), its
// string at 8/12.
function takeError(): HostError {
  return new HostError(errorKindOf(<i32>load<u8>(RET_AREA, 4)), takeStringAt(RET_AREA + 8));
}

function stringResult(): Result<string> {
  if (failed()) return Result.err<string>(takeError());
  return Result.ok<string>(takeStringAt(RET_AREA + 4));
}

function unitResult(): HostError | null {
  return failed() ? takeError() : null;
}

/** Stored objects: typed JSON documents shared with the REST API. Writes are visible to this
 *  invocation at once and committed together when the handler returns `ok()`. */
export abstract class objects {
  /** Creates an object of `typeName` from a JSON object of properties; returns its new id. */
  static create(typeName: string, properties: string): Result<string> {
    const t = utf8(typeName);
    const p = utf8(properties);
    objectsCreate(changetype<usize>(t), t.byteLength, changetype<usize>(p), p.byteLength, RET_AREA);
    return stringResult();
  }

  /** The object as JSON (with `id`, `type`, `createdAt`, `updatedAt`), or null if there is none. */
  static get(id: string): Result<string | null> {
    const i = utf8(id);
    objectsGet(changetype<usize>(i), i.byteLength, RET_AREA);
    if (failed()) return Result.err<string | null>(takeError());
    // option<string> at 4: u8 tag at 4, the string at 8/12.
    if (load<u8>(RET_AREA, 4) == 0) return Result.ok<string | null>(null);
    return Result.ok<string | null>(takeStringAt(RET_AREA + 8));
  }

  /** Objects of `typeName` matching `query` (`{}`, `{"prop": value}` or
   *  `{"filters": [...], "sort", "order", "limit", "offset", "total"}`), as a JSON array, or as
   *  `{"result": [...], "total": n}` when the query has `"total": true`. Without a `limit` the
   *  plugin's default row limit applies; a `limit` above its maximum is `LimitExceeded`. */
  static find(typeName: string, query: string): Result<string> {
    const t = utf8(typeName);
    const q = utf8(query);
    objectsFind(changetype<usize>(t), t.byteLength, changetype<usize>(q), q.byteLength, RET_AREA);
    return stringResult();
  }

  /** Merges a JSON object of properties into an object (`null` removes a property). */
  static update(id: string, properties: string): HostError | null {
    const i = utf8(id);
    const p = utf8(properties);
    objectsUpdate(changetype<usize>(i), i.byteLength, changetype<usize>(p), p.byteLength, RET_AREA);
    return unitResult();
  }

  /** Deletes an object; the value says whether it existed. */
  static delete(id: string): Result<bool> {
    const i = utf8(id);
    objectsDelete(changetype<usize>(i), i.byteLength, RET_AREA);
    if (failed()) return Result.err<bool>(takeError());
    return Result.ok<bool>(load<u8>(RET_AREA, 4) != 0);
  }
}

/** Messages out through the broker clients Switchyard manages. A client is named by its object
 *  id or its `name`; publishes go out only after the handler returns `ok()`. */
export abstract class messaging {
  /** Publishes bytes to `topic` through `client`. */
  static publish(client: string, topic: string, payload: Uint8Array): HostError | null {
    const c = utf8(client);
    const t = utf8(topic);
    messagingPublish(
      changetype<usize>(c), c.byteLength, changetype<usize>(t), t.byteLength,
      payload.dataStart, payload.byteLength, RET_AREA,
    );
    return unitResult();
  }

  /** Publishes `text` as UTF-8 to `topic` through `client`. */
  static publishText(client: string, topic: string, text: string): HostError | null {
    return messaging.publish(client, topic, Uint8Array.wrap(utf8(text)));
  }

  /** Adds a topic subscription to a client. */
  static subscribe(client: string, topic: string): HostError | null {
    const c = utf8(client);
    const t = utf8(topic);
    messagingSubscribe(changetype<usize>(c), c.byteLength, changetype<usize>(t), t.byteLength, RET_AREA);
    return unitResult();
  }

  /** Removes a topic subscription from a client. */
  static unsubscribe(client: string, topic: string): HostError | null {
    const c = utf8(client);
    const t = utf8(topic);
    messagingUnsubscribe(changetype<usize>(c), c.byteLength, changetype<usize>(t), t.byteLength, RET_AREA);
    return unitResult();
  }
}

/** How important a log line is; mirrors the WIT `level` enum. */
export enum Level {
  Trace = 0,
  Debug = 1,
  Info = 2,
  Warn = 3,
  Error = 4,
}

/** Lines in the server log, tagged with the plugin and subscriber. */
export abstract class log {
  static write(level: Level, message: string): void {
    const m = utf8(message);
    loggingLog(<u32>level, changetype<usize>(m), m.byteLength);
  }

  static trace(message: string): void {
    log.write(Level.Trace, message);
  }

  static debug(message: string): void {
    log.write(Level.Debug, message);
  }

  static info(message: string): void {
    log.write(Level.Info, message);
  }

  static warn(message: string): void {
    log.write(Level.Warn, message);
  }

  static error(message: string): void {
    log.write(Level.Error, message);
  }
}
