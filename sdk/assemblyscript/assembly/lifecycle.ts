// Lifecycle hooks: what a plugin of the `lifecycle-hooks` world decides before an operation on a
// tenant's objects or devices runs (allow, deny, or change it) and what it does once it ran, as
// AssemblyScript values.

import { JSON, JSONValue } from "./json";

/** What is being done; mirrors the WIT `operation` enum, in its case order. */
export enum Operation {
  /** A device connecting to the embedded broker (`entity` is empty). */
  Connect = 0,
  /** A device's connection ending (`entity` is empty); it cannot be refused. */
  Disconnect = 1,
  /** Reading one object (`recordId`) or many (`query`). */
  Read = 2,
  Create = 3,
  Update = 4,
  Delete = 5,
  /** A Data over MQTT change subscription (`query` holds its filters). */
  Subscribe = 6,
  Unsubscribe = 7,
}

/** The WIT name of `operation`: `connect`, `read`, `create`, ... */
export function operationName(operation: Operation): string {
  switch (operation) {
    case Operation.Connect: return "connect";
    case Operation.Disconnect: return "disconnect";
    case Operation.Read: return "read";
    case Operation.Create: return "create";
    case Operation.Update: return "update";
    case Operation.Delete: return "delete";
    case Operation.Subscribe: return "subscribe";
    default: return "unsubscribe";
  }
}

/** Who is asking; mirrors the WIT `caller-kind` enum, in its case order. */
export enum CallerKind {
  /** A device of the embedded broker: `name` is its username (its client id if it has none). */
  Device = 0,
  /** A client of an external broker, by the client id in its request topic. */
  Client = 1,
  /** A REST API token: `name` is `operator`, `admin` or `viewer`. */
  Token = 2,
}

/** Who is asking. */
export class Caller {
  constructor(
    public readonly kind: CallerKind,
    public readonly name: string,
    /** The tenant the request acts in; a hook only ever sees its own tenant's requests. */
    public readonly tenant: string,
  ) {}
}

/** One request at one point. */
export class Request {
  constructor(
    public readonly operation: Operation,
    public readonly caller: Caller,
    /** The object type; empty for `connect` and `disconnect`. */
    public readonly entity: string,
    /** The object a read of one, an update or a delete is about, or the subscription an
     *  unsubscribe ends; empty otherwise. */
    public readonly recordId: string,
    /** JSON: the properties a create or update writes; `null` for other operations. */
    public readonly data: string,
    /** JSON: a read's or subscription's query (`{"filters": [...], "sort", ...}`). */
    public readonly query: string,
  ) {}

  /** The WIT name of the operation: `connect`, `read`, `create`, ... */
  get operationName(): string {
    return operationName(this.operation);
  }

  /** `data` parsed, if it is a JSON object (a create's or update's properties), else null. */
  dataObject(): JSONValue | null {
    return objectOf(this.data);
  }

  /** `query` parsed, if it is a JSON object, else null. */
  queryObject(): JSONValue | null {
    return objectOf(this.query);
  }
}

function objectOf(text: string): JSONValue | null {
  const parsed = JSON.parse(text);
  if (parsed.isErr) return null;
  const value = parsed.unwrap();
  return value.isObject ? value : null;
}

/** What a `before` hook decides; the cases mirror the WIT `decision` variant. */
export class Decision {
  private constructor(
    /** The WIT case number: 0 allow, 1 deny, 2 modify. */
    public readonly code: u8,
    /** deny: the refusal's code and message. */
    public readonly refusalCode: string,
    public readonly refusalMessage: string,
    /** modify: the properties to write instead (a JSON object), or null to keep the request's. */
    public readonly data: string | null,
    /** modify: filters to add (a JSON list), or null for none. */
    public readonly filters: string | null,
    /** Set when the hook failed: the request is denied with `hook_error`. */
    public readonly error: string | null,
  ) {}

  /** Go ahead as asked. */
  static allow(): Decision { return new Decision(0, "", "", null, null, null); }
  /** Refuse the request; the caller gets `code` (one of Data over MQTT's error codes: `denied`,
   *  `invalid_message`, `not_found`, `conflict`, `quota`; anything else is answered as
   *  `denied`) and `message`. */
  static deny(code: string, message: string): Decision { return new Decision(1, code, message, null, null, null); }
  /** Go ahead with changes: `data` (JSON object) replaces the properties a create or update
   *  writes, `filters` (JSON list of `{"column", "operator", "value"}`) narrows a read or
   *  subscription; null leaves that part alone. */
  static modify(data: string | null, filters: string | null): Decision {
    return new Decision(2, "", "", data, filters, null);
  }
  /** The hook could not decide: the request is denied with `hook_error`. */
  static fail(reason: string): Decision { return new Decision(0, "", "", null, null, reason); }
}

/** What a lifecycle plugin does: extend it and override the methods you need; `before` answers
 *  allow and `after` does nothing unless overridden. A `throw` or a trap in `before` denies. The
 *  hooks' `objects` calls act in the plugin's tenant and are committed when a hook returns ok. */
export class Lifecycle {
  /** Asked before the operation runs. */
  before(request: Request): Decision {
    return Decision.allow();
  }

  /** Told after it ran: `outcome` is JSON, `{"success": true, "data": ...}` (the objects or
   *  object written or read, `{"id"}` for a delete) or `{"success": false, "error": {"code",
   *  "message"}}`. Return null to commit the hook's own writes, or a reason: they are discarded
   *  and the reason is logged. The operation stands either way. */
  after(request: Request, outcome: string): string | null {
    return null;
  }
}

let registered: Lifecycle | null = null;

/** Makes `hooks` the plugin's lifecycle hooks. Call it once, at the top level at the end of the
 *  entry file; the entry file must also `export * from "switchyard-plugin/lifecycle"`. */
export function registerLifecycle(hooks: Lifecycle): void {
  registered = hooks;
}

/** The registered hooks, or null if the plugin never called `registerLifecycle`. */
export function registeredLifecycle(): Lifecycle | null {
  return registered;
}
