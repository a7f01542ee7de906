// The core-wasm exports the switchyard:plugin world needs. A plugin's entry file re-exports
// this module (`export * from "switchyard-plugin/exports"`); the SDK's build transform renames
// `__switchyard_handle` and `__switchyard_post_handle` to their canonical-ABI names, which are
// not AssemblyScript identifiers.

import { freeHostBlock, freeReason, storeReason, takeBytes, takeString } from "./abi";
import { registeredHandler } from "./handler";
import { Header, Message } from "./message";
import { setRandomSeed } from "./runtime";

// `result<_, string>` returned by `handle`: u8 tag at 0 (1 = err), the string at 4/8.
const HANDLE_RESULT: usize = memory.data(12, 4);
// One `tuple<string, list<u8>>` of the headers list: name at 0/4, value at 8/12.
const HEADER_SIZE: usize = 16;

/** `switchyard:plugin/handler@0.2.0#handle`: the flattened `message` record in (14 values:
 *  4 strings, the key option as tag/ptr/len, the headers list, the u64 timestamp), a pointer
 *  to the `result<_, string>` out. */
export function __switchyard_handle(
  topicPtr: usize, topicLen: usize,
  payloadPtr: usize, payloadLen: usize,
  clientPtr: usize, clientLen: usize,
  subscriberPtr: usize, subscriberLen: usize,
  keyTag: u32, keyPtr: usize, keyLen: usize,
  headersPtr: usize, headersLen: usize,
  timestampMs: u64,
): usize {
  const headers = new Array<Header>();
  for (let i: usize = 0; i < headersLen; i++) {
    const at = headersPtr + i * HEADER_SIZE;
    const name = takeString(load<u32>(at), load<u32>(at, 4));
    headers.push(new Header(name, takeBytes(load<u32>(at, 8), load<u32>(at, 12))));
  }
  freeHostBlock(headersPtr, headersLen * HEADER_SIZE);

  const message = new Message(
    takeString(topicPtr, topicLen),
    takeBytes(payloadPtr, payloadLen),
    takeString(clientPtr, clientLen),
    takeString(subscriberPtr, subscriberLen),
    keyTag != 0 ? takeBytes(keyPtr, keyLen) : null,
    headers,
    timestampMs,
  );
  setRandomSeed(<f64>timestampMs);

  const handler = registeredHandler();
  const error = handler === null
    ? "the plugin registered no handler: call register(...) in its entry file"
    : handler(message).error;
  if (error === null) {
    store<u8>(HANDLE_RESULT, 0);
  } else {
    storeReason(HANDLE_RESULT, error);
  }
  return HANDLE_RESULT;
}

/** `cabi_post_switchyard:plugin/handler@0.2.0#handle`: frees the error reason. */
export function __switchyard_post_handle(result: usize): void {
  freeReason(result);
}

/** The allocator the host uses for every string and list it hands us. Blocks come from the
 *  runtime's unmanaged heap (16-byte aligned), so the garbage collector never moves or frees
 *  them; the glue frees each one after copying it into managed values. */
export function cabi_realloc(oldPtr: usize, oldSize: usize, align: usize, newSize: usize): usize {
  if (align > 16) unreachable();
  if (newSize == 0) {
    freeHostBlock(oldPtr, oldSize);
    return align;
  }
  if (oldSize == 0) return heap.alloc(newSize);
  return heap.realloc(oldPtr, newSize);
}
