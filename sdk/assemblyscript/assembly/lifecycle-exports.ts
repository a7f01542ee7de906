// The core-wasm exports of the lifecycle-hooks world. A lifecycle plugin's entry file re-exports
// this module (`export * from "switchyard-plugin/lifecycle"`); the SDK's build transform renames
// the `__switchyard_*` functions to their canonical-ABI names.

import { freeReason, freeStringAt, storeReason, storeStringAt, takeString } from "./abi";
import { Caller, CallerKind, Decision, Operation, Request, registeredLifecycle } from "./lifecycle";

// `result<decision, string>` returned by `before` (size 32, align 4): u8 tag at 0 (1 = err, the
// reason at 4/8). The ok payload at 4 is the `decision` variant: u8 case at 4 (0 allow, 1 deny,
// 2 modify), its payload at 8 (the largest case alignment, 4). deny's `refusal`: code at 8/12,
// message at 16/20. modify's `amendment`: two `option<string>` of 12 bytes each, `data` (u8 tag
// at 8, string at 12/16) and `filters` (u8 tag at 20, string at 24/28).
const BEFORE_RESULT: usize = memory.data(32, 4);
// `result<_, string>` returned by `after`: u8 tag at 0 (1 = err), the reason at 4/8.
const AFTER_RESULT: usize = memory.data(12, 4);
const NO_HOOKS = "the plugin registered no lifecycle hooks: call registerLifecycle(...) in its entry file";

/** The flattened `request` record: operation, caller (kind, name, tenant), entity, record id,
 *  data, query; 14 values. */
function takeRequest(
  operation: u32, kind: u32, namePtr: usize, nameLen: usize, tenantPtr: usize, tenantLen: usize,
  entityPtr: usize, entityLen: usize, recordPtr: usize, recordLen: usize,
  dataPtr: usize, dataLen: usize, queryPtr: usize, queryLen: usize,
): Request {
  return new Request(
    <Operation>operation,
    new Caller(<CallerKind>kind, takeString(namePtr, nameLen), takeString(tenantPtr, tenantLen)),
    takeString(entityPtr, entityLen),
    takeString(recordPtr, recordLen),
    takeString(dataPtr, dataLen),
    takeString(queryPtr, queryLen),
  );
}

/** Writes an `option<string>` at `at`: u8 tag, the string at 4/8 when set. */
function storeOption(at: usize, s: string | null): void {
  if (s === null) {
    store<u8>(at, 0);
  } else {
    store<u8>(at, 1);
    storeStringAt(at + 4, s);
  }
}

/** Frees the string of the `option<string>` `storeOption` wrote at `at`, if it is set. */
function freeOption(at: usize): void {
  if (load<u8>(at) != 0) freeStringAt(at + 4);
}

/** `switchyard:plugin/lifecycle@0.2.0#before`. */
export function __switchyard_before(
  operation: u32, kind: u32, namePtr: usize, nameLen: usize, tenantPtr: usize, tenantLen: usize,
  entityPtr: usize, entityLen: usize, recordPtr: usize, recordLen: usize,
  dataPtr: usize, dataLen: usize, queryPtr: usize, queryLen: usize,
): usize {
  const request = takeRequest(operation, kind, namePtr, nameLen, tenantPtr, tenantLen,
    entityPtr, entityLen, recordPtr, recordLen, dataPtr, dataLen, queryPtr, queryLen);
  const hooks = registeredLifecycle();
  const decided = hooks === null ? Decision.fail(NO_HOOKS) : hooks.before(request);
  const error = decided.error;
  if (error !== null) {
    storeReason(BEFORE_RESULT, error);
    return BEFORE_RESULT;
  }
  store<u8>(BEFORE_RESULT, 0);
  store<u8>(BEFORE_RESULT, decided.code, 4);
  if (decided.code == 1) {
    storeStringAt(BEFORE_RESULT + 8, decided.refusalCode);
    storeStringAt(BEFORE_RESULT + 16, decided.refusalMessage);
  } else if (decided.code == 2) {
    storeOption(BEFORE_RESULT + 8, decided.data);
    storeOption(BEFORE_RESULT + 20, decided.filters);
  }
  return BEFORE_RESULT;
}

/** `cabi_post_switchyard:plugin/lifecycle@0.2.0#before`: frees the strings `before` returned. */
export function __switchyard_post_before(result: usize): void {
  if (load<u8>(result) != 0) {
    freeReason(result);
    return;
  }
  const code = load<u8>(result, 4);
  if (code == 1) {
    freeStringAt(result + 8);
    freeStringAt(result + 16);
  } else if (code == 2) {
    freeOption(result + 8);
    freeOption(result + 20);
  }
}

/** `switchyard:plugin/lifecycle@0.2.0#after`: the request's 14 values, then the outcome. */
export function __switchyard_after(
  operation: u32, kind: u32, namePtr: usize, nameLen: usize, tenantPtr: usize, tenantLen: usize,
  entityPtr: usize, entityLen: usize, recordPtr: usize, recordLen: usize,
  dataPtr: usize, dataLen: usize, queryPtr: usize, queryLen: usize,
  outcomePtr: usize, outcomeLen: usize,
): usize {
  const request = takeRequest(operation, kind, namePtr, nameLen, tenantPtr, tenantLen,
    entityPtr, entityLen, recordPtr, recordLen, dataPtr, dataLen, queryPtr, queryLen);
  const outcome = takeString(outcomePtr, outcomeLen);
  const hooks = registeredLifecycle();
  const error = hooks === null ? NO_HOOKS : hooks.after(request, outcome);
  if (error === null) {
    store<u8>(AFTER_RESULT, 0);
  } else {
    storeReason(AFTER_RESULT, error);
  }
  return AFTER_RESULT;
}

/** `cabi_post_switchyard:plugin/lifecycle@0.2.0#after`: frees the error reason. */
export function __switchyard_post_after(result: usize): void {
  freeReason(result);
}

export { cabi_realloc } from "./exports";
