// The core-wasm exports of the broker-hooks world. A hooks plugin's entry file re-exports this
// module (`export * from "switchyard-plugin/hooks"`); the SDK's build transform renames the
// `__switchyard_*` functions to their canonical-ABI names.

import { freeReason, storeReason, takeBytes, takeString } from "./abi";
import { Authentication, Authorization, Device, Hooks, registeredHooks } from "./hooks";

// `result<authentication | authorization, string>`: u8 tag at 0 (1 = err); the ok case at 4
// (the enum's u8, or the variant's u8 case and its u8 payload at 5), the error string at 4/8.
const RESULT: usize = memory.data(12, 4);
const NO_HOOKS = "the plugin registered no hooks: call registerHooks(...) in its entry file";

/** The flattened `device` record: client id, username, and the tenant option as tag/ptr/len. */
function takeDevice(
  clientPtr: usize, clientLen: usize, userPtr: usize, userLen: usize,
  tenantTag: u32, tenantPtr: usize, tenantLen: usize,
): Device {
  return new Device(
    takeString(clientPtr, clientLen),
    takeString(userPtr, userLen),
    tenantTag != 0 ? takeString(tenantPtr, tenantLen) : null,
  );
}

/** Writes an answer: the error case if `error` is set, otherwise the case `code` (and the
 *  variant's payload `qos`, which the enum ignores). */
function answer(error: string | null, code: u8, qos: u8): usize {
  if (error !== null) {
    storeReason(RESULT, error);
  } else {
    store<u8>(RESULT, 0);
    store<u8>(RESULT, code, 4);
    store<u8>(RESULT, qos, 5);
  }
  return RESULT;
}

/** `switchyard:plugin/hooks@0.2.0#authenticate`. */
export function __switchyard_authenticate(
  clientPtr: usize, clientLen: usize, userPtr: usize, userLen: usize,
  tenantTag: u32, tenantPtr: usize, tenantLen: usize,
  passwordPtr: usize, passwordLen: usize,
): usize {
  const device = takeDevice(clientPtr, clientLen, userPtr, userLen, tenantTag, tenantPtr, tenantLen);
  const password = takeBytes(passwordPtr, passwordLen);
  const hooks = registeredHooks();
  const decided = hooks === null ? Authentication.fail(NO_HOOKS) : hooks.authenticate(device, password);
  return answer(decided.error, decided.code, 0);
}

/** Asks the hooks about a subscription or a publish. */
type Ask = (hooks: Hooks, device: Device, target: string, qos: u8) => Authorization;

/** The two authorization hooks: the device, the filter or topic, the QoS. */
function authorize(
  clientPtr: usize, clientLen: usize, userPtr: usize, userLen: usize,
  tenantTag: u32, tenantPtr: usize, tenantLen: usize,
  targetPtr: usize, targetLen: usize, qos: u8, ask: Ask,
): usize {
  const device = takeDevice(clientPtr, clientLen, userPtr, userLen, tenantTag, tenantPtr, tenantLen);
  const target = takeString(targetPtr, targetLen);
  const hooks = registeredHooks();
  const decided = hooks === null ? Authorization.fail(NO_HOOKS) : ask(hooks, device, target, qos);
  return answer(decided.error, decided.code, decided.qos);
}

/** `switchyard:plugin/hooks@0.2.0#authorize-subscribe`. */
export function __switchyard_authorize_subscribe(
  clientPtr: usize, clientLen: usize, userPtr: usize, userLen: usize,
  tenantTag: u32, tenantPtr: usize, tenantLen: usize,
  filterPtr: usize, filterLen: usize, qos: u8,
): usize {
  return authorize(clientPtr, clientLen, userPtr, userLen, tenantTag, tenantPtr, tenantLen,
    filterPtr, filterLen, qos, (hooks, device, filter, qos) => hooks.authorizeSubscribe(device, filter, qos));
}

/** `switchyard:plugin/hooks@0.2.0#authorize-publish`. */
export function __switchyard_authorize_publish(
  clientPtr: usize, clientLen: usize, userPtr: usize, userLen: usize,
  tenantTag: u32, tenantPtr: usize, tenantLen: usize,
  topicPtr: usize, topicLen: usize, qos: u8,
): usize {
  return authorize(clientPtr, clientLen, userPtr, userLen, tenantTag, tenantPtr, tenantLen,
    topicPtr, topicLen, qos, (hooks, device, topic, qos) => hooks.authorizePublish(device, topic, qos));
}

/** The post-return of all three hooks: frees the error reason. */
export function __switchyard_post_hook(result: usize): void {
  freeReason(result);
}

export { cabi_realloc } from "./exports";
