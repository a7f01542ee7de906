// Test fixture, not an example: the AssemblyScript twin of `plugins/guard` (same decisions), so
// the lifecycle tests check the SDK's lifecycle-hooks glue with the same scenario.
//
// | asked | decides |
// |---|---|
// | before anything on `Trap` | traps |
// | before `read` or `subscribe` of `Note` | modify: no data, filters `[{"column":"tenant_id","operator":"eq","value":<tenant>}]` (for a read of one, another tenant's note is not found) |
// | before `create` of `Note` | modify: data = the request's data with `"tenant_id": <tenant>` (replacing any given) |
// | before `update` of `Note` | modify: data = the request's data without `tenant_id`, and the filter above (another tenant's note is not found) |
// | before `delete` of `Note` | deny: `denied`, `notes are never deleted` |
// | before `connect` by a caller whose name starts with `blocked` | deny: `denied`, `blocked device` |
// | after `create`, `update` or `delete` of `Note` | creates an `AuditEntry` `{"operation", "entity": "Note", "recordId", "caller", "success"}` (`recordId`: a create's is the outcome's `data.id`; `success`: the outcome's); ok |
// | after `connect` or `disconnect` | creates an `AuditEntry` `{"operation", "entity": "", "recordId": "", "caller", "success": true}`; ok |
// | anything else | before: allow; after: ok |
//
// `<tenant>` is the caller's name up to its first `-` (all of it if it has none); `caller` is
// the caller's name.

import {
  Caller, Decision, JSON, JSONValue, Lifecycle, Operation, Request, objects, registerLifecycle,
} from "switchyard-plugin";

// The glue the server calls: keep this line in your entry file.
export * from "switchyard-plugin/lifecycle";

function tenantOf(caller: Caller): string {
  const dash = caller.name.indexOf("-");
  return dash < 0 ? caller.name : caller.name.substring(0, dash);
}

/** The request's data object; an empty one if its data is no object. */
function dataOf(request: Request): JSONValue {
  const data = request.dataObject();
  return data !== null ? data : JSON.objectValue();
}

/** Creates an `AuditEntry`; null, or why it could not (the hook's error). */
function audit(operation: string, entity: string, recordId: string, caller: string, success: bool): string | null {
  const created = objects.create("AuditEntry", JSON.objectValue()
    .setString("operation", operation)
    .setString("entity", entity)
    .setString("recordId", recordId)
    .setString("caller", caller)
    .setBool("success", success)
    .stringify());
  return created.isErr ? "creating the audit entry failed: " + created.error!.toString() : null;
}

class Guard extends Lifecycle {
  before(request: Request): Decision {
    if (request.entity == "Trap") throw new Error("the guard traps on " + request.operationName + " of Trap");
    if (request.operation == Operation.Connect) {
      return request.caller.name.startsWith("blocked") ? Decision.deny("denied", "blocked device") : Decision.allow();
    }
    if (request.entity != "Note") return Decision.allow();
    const own = JSON.arrayValue().push(JSON.objectValue()
      .setString("column", "tenant_id")
      .setString("operator", "eq")
      .setString("value", tenantOf(request.caller))).stringify();
    switch (request.operation) {
      case Operation.Read:
      case Operation.Subscribe:
        return Decision.modify(null, own);
      case Operation.Create:
        return Decision.modify(dataOf(request).setString("tenant_id", tenantOf(request.caller)).stringify(), null);
      case Operation.Update: {
        const data = dataOf(request);
        const kept = JSON.objectValue();
        const keys = data.keys();
        for (let i = 0; i < keys.length; i++) {
          const key = keys[i];
          if (key != "tenant_id") kept.set(key, data.get(key)!);
        }
        return Decision.modify(kept.stringify(), own);
      }
      case Operation.Delete:
        return Decision.deny("denied", "notes are never deleted");
    }
    return Decision.allow();
  }

  after(request: Request, outcome: string): string | null {
    const operation = request.operation;
    if (operation == Operation.Connect || operation == Operation.Disconnect) {
      return audit(request.operationName, "", "", request.caller.name, true);
    }
    if (request.entity != "Note") return null;
    if (operation != Operation.Create && operation != Operation.Update && operation != Operation.Delete) return null;
    const parsed = JSON.parse(outcome);
    const result = parsed.isOk ? parsed.unwrap() : JSON.objectValue();
    let recordId = request.recordId;
    if (operation == Operation.Create) {
      const data = result.get("data");
      const id = data !== null ? data.getString("id") : null;
      recordId = id !== null ? id : "";
    }
    return audit(request.operationName, "Note", recordId, request.caller.name, result.getBool("success"));
  }
}

// Last in the file, so every module-level value the hooks use is initialized first.
registerLifecycle(new Guard());
