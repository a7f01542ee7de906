// How a plugin hands its handler to the glue, and what the handler returns.

import { Message } from "./message";

/** What a handler returns: `ok()` commits the invocation's writes and sends its publishes,
 *  `err(reason)` discards them and the host records the reason. */
export class Outcome {
  constructor(
    /** The failure reason, or null for success. */
    public readonly error: string | null,
  ) {}
}

/** Success: commit the writes, send the publishes. */
export function ok(): Outcome {
  return new Outcome(null);
}

/** Failure with a reason: nothing this invocation did is kept. */
export function err(reason: string): Outcome {
  return new Outcome(reason);
}

/** A message callback. */
export type Handler = (message: Message) => Outcome;

let registered: Handler | null = null;

/** Makes `handler` the plugin's message callback. Call it once, at the top level at the end of
 *  the entry file (so the module-level values the handler uses are initialized first); the
 *  entry file must also `export * from "switchyard-plugin/exports"`. */
export function register(handler: Handler): void {
  registered = handler;
}

/** The registered callback, or null if the plugin never called `register`. */
export function registeredHandler(): Handler | null {
  return registered;
}
