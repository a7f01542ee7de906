// Replacements for the AssemblyScript runtime's `env` imports (abort, trace, seed), which the
// switchyard:plugin world does not provide. The SDK's asconfig.json routes them here with
// `use`, so a plugin's module imports nothing but our world.

import { Level, log } from "./host";

let aborting = false;
let randomSeed: f64 = 0;

/** Seeds `Math.random` for the current invocation (called by the glue with the message time). */
export function setRandomSeed(seed: f64): void {
  randomSeed = seed;
}

/** `throw`, a failed `assert` or a runtime error (out of bounds, out of memory): the reason goes
 *  to the server log, then the invocation traps, which the host records as a failed run with
 *  nothing committed. AssemblyScript cannot unwind, so a trap is the only clean way out. */
export function abortHandler(message: string | null, fileName: string | null, line: u32, column: u32): void {
  // A failure while reporting one (say, out of memory) must not recurse.
  if (!aborting) {
    aborting = true;
    let text = "handler aborted: " + (message !== null ? message : "(no message)");
    if (fileName !== null) text += " at " + fileName + ":" + line.toString() + ":" + column.toString();
    log.write(Level.Error, text);
  }
  unreachable();
}

/** `trace(...)` writes a debug line. */
export function traceHandler(message: string, n: i32, a0: f64, a1: f64, a2: f64, a3: f64, a4: f64): void {
  let text = "trace: " + message;
  const args: f64[] = [a0, a1, a2, a3, a4];
  for (let i = 0; i < n && i < 5; i++) text += (i == 0 ? " " : ", ") + unchecked(args[i]).toString();
  log.write(Level.Debug, text);
}

/** `Math.random` is seeded from the message's timestamp: fine for jitter or sampling, not for
 *  secrets. */
export function seedHandler(): f64 {
  return randomSeed;
}
