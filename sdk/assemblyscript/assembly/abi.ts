// The canonical-ABI boundary of the switchyard:plugin world: the raw core-wasm imports, in the
// exact flattened shapes the Component Model gives our WIT functions, and the helpers that move
// strings and byte lists across it. Everything above this file deals in AssemblyScript values.
//
// Shapes (wit-component's legacy names, MAX_FLAT_PARAMS 16, MAX_FLAT_RESULTS 1): each string or
// list<u8> argument flattens to (ptr, len); results wider than one value are written by the host
// into a return area whose address is the last argument. Strings and lists inside results are
// allocated by the host through our `cabi_realloc`, so we own and free them after reading.

// The area imports write their results into. Every result<_, error> we import fits in 16 bytes:
// u8 discriminant at 0, payload aligned to 4 at offset 4 (the error variant: u8 tag at 4,
// string at 8/12; option<string>: u8 tag at 4, string at 8/12; string: 4/8; bool: u8 at 4).
// A plugin is single-threaded and reads each result before the next call, so one area suffices.
export const RET_AREA: usize = memory.data(16, 8);

// @ts-ignore: decorator
@external("switchyard:plugin/objects@0.2.0", "create")
export declare function objectsCreate(typePtr: usize, typeLen: usize, propsPtr: usize, propsLen: usize, ret: usize): void;

// @ts-ignore: decorator
@external("switchyard:plugin/objects@0.2.0", "get")
export declare function objectsGet(idPtr: usize, idLen: usize, ret: usize): void;

// @ts-ignore: decorator
@external("switchyard:plugin/objects@0.2.0", "find")
export declare function objectsFind(typePtr: usize, typeLen: usize, queryPtr: usize, queryLen: usize, ret: usize): void;

// @ts-ignore: decorator
@external("switchyard:plugin/objects@0.2.0", "update")
export declare function objectsUpdate(idPtr: usize, idLen: usize, propsPtr: usize, propsLen: usize, ret: usize): void;

// @ts-ignore: decorator
@external("switchyard:plugin/objects@0.2.0", "delete")
export declare function objectsDelete(idPtr: usize, idLen: usize, ret: usize): void;

// @ts-ignore: decorator
@external("switchyard:plugin/messaging@0.2.0", "publish")
export declare function messagingPublish(
  clientPtr: usize, clientLen: usize, topicPtr: usize, topicLen: usize,
  payloadPtr: usize, payloadLen: usize, ret: usize,
): void;

// @ts-ignore: decorator
@external("switchyard:plugin/messaging@0.2.0", "subscribe")
export declare function messagingSubscribe(clientPtr: usize, clientLen: usize, topicPtr: usize, topicLen: usize, ret: usize): void;

// @ts-ignore: decorator
@external("switchyard:plugin/messaging@0.2.0", "unsubscribe")
export declare function messagingUnsubscribe(clientPtr: usize, clientLen: usize, topicPtr: usize, topicLen: usize, ret: usize): void;

// @ts-ignore: decorator
@external("switchyard:plugin/logging@0.2.0", "log")
export declare function loggingLog(level: u32, messagePtr: usize, messageLen: usize): void;

/** UTF-8 bytes of `s` for an argument. Lone surrogates become U+FFFD: the host only accepts
 *  valid UTF-8 and would trap on anything else. */
export function utf8(s: string): ArrayBuffer {
  return String.UTF8.encode(s, false, String.UTF8.ErrorMode.REPLACE);
}

/** Frees a block the host allocated through `cabi_realloc`. Empty lists and strings were
 *  never allocated (`cabi_realloc` hands out its alignment for them). */
export function freeHostBlock(ptr: usize, len: usize): void {
  if (len != 0) heap.free(ptr);
}

/** Takes a host-written string: decodes it (the host guarantees valid UTF-8) and frees it. */
export function takeString(ptr: usize, len: usize): string {
  if (len == 0) return "";
  const s = String.UTF8.decodeUnsafe(ptr, len, false);
  heap.free(ptr);
  return s;
}

/** Takes a host-written byte list: copies it into a managed array and frees the block. */
export function takeBytes(ptr: usize, len: usize): Uint8Array {
  const bytes = new Uint8Array(<i32>len);
  if (len != 0) {
    memory.copy(bytes.dataStart, ptr, len);
    heap.free(ptr);
  }
  return bytes;
}

/** The string at `at` (ptr at `at`, len at `at + 4`), taken as by `takeString`. */
export function takeStringAt(at: usize): string {
  return takeString(load<u32>(at), load<u32>(at, 4));
}

/** Writes `s` as a string we return (ptr at `at`, len at `at + 4`). The host reads it after the
 *  export returns, so it lives in a block of its own until the post-return export hands `at` to
 *  `freeStringAt`. */
export function storeStringAt(at: usize, s: string): void {
  const bytes = utf8(s);
  const len = <usize>bytes.byteLength;
  const ptr: usize = len == 0 ? 1 : heap.alloc(len);
  memory.copy(ptr, changetype<usize>(bytes), len);
  store<u32>(at, <u32>ptr);
  store<u32>(at, <u32>len, 4);
}

/** Frees the string `storeStringAt` wrote at `at`. */
export function freeStringAt(at: usize): void {
  freeHostBlock(load<u32>(at), load<u32>(at, 4));
}

/** Writes the error case of a `result<_, string>` we return (u8 tag 1 at `area`, the reason at
 *  4/8), kept until the post-return export hands `area` to `freeReason`. */
export function storeReason(area: usize, reason: string): void {
  store<u8>(area, 1);
  storeStringAt(area + 4, reason);
}

/** Frees the reason `storeReason` wrote at `area`, if it wrote one. */
export function freeReason(area: usize): void {
  if (load<u8>(area) != 0) freeStringAt(area + 4);
}
