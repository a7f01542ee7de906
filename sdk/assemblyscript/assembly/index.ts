// switchyard-plugin: write Switchyard message handlers in AssemblyScript.
//
// An entry file registers one handler and re-exports the glue:
//
//   import { Message, Outcome, ok, register } from "switchyard-plugin";
//   export * from "switchyard-plugin/exports";
//   register((message: Message): Outcome => ok());
//
// A plugin for the embedded broker's hooks (the broker-hooks world) instead extends `Hooks`,
// calls `registerHooks(...)` and re-exports "switchyard-plugin/hooks"; one of lifecycle hooks
// (the lifecycle-hooks world) extends `Lifecycle`, calls `registerLifecycle(...)` and re-exports
// "switchyard-plugin/lifecycle".

export { Header, Message, decodeText, isUtf8 } from "./message";
export { ErrorKind, HostError, Result } from "./result";
export { Level, log, messaging, objects } from "./host";
export { Handler, Outcome, err, ok, register } from "./handler";
export { JSON, JSONKind, JSONValue } from "./json";
export { Authentication, Authorization, Device, Hooks, registerHooks } from "./hooks";
export {
  Caller, CallerKind, Decision, Lifecycle, Operation, Request, operationName, registerLifecycle,
} from "./lifecycle";

// Parsed with the API, so the asconfig's `use abort=...` finds its target even in a module
// that forgot to export the glue (the transform then says what is missing).
import "./runtime";
