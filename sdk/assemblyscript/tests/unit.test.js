// Compiles tests/unit.ts with the SDK's runtime replacements (tests/asconfig.json) and runs each exported `test_*`
// function in a fresh instance. The world's imports are stubbed: `log` collects lines (the SDK's
// abort handler reports failures through it), anything else is a test error. The lifecycle tests
// call the lifecycle-hooks glue unit.ts exports as the host would: strings in through
// `cabi_realloc`, the result read from the returned pointer, then the post-return.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import asc from "assemblyscript/asc";

const sdk = join(dirname(fileURLToPath(import.meta.url)), "..");
const iface = (name) => `switchyard:plugin/${name}@0.2.0`;
let module;

before(async () => {
  const out = join(mkdtempSync(join(tmpdir(), "switchyard-as-")), "unit.wasm");
  const { error, stderr } = await asc.main(
    // Not the SDK's asconfig.json: its transform rejects the test_* exports.
    ["tests/unit.ts", "--config", "tests/asconfig.json", "--outFile", out],
    { baseDir: sdk },
  );
  if (error) throw new Error(`asc failed: ${error.message}\n${stderr.toString()}`);
  module = new WebAssembly.Module(readFileSync(out));
});

function instantiate() {
  const lines = [];
  let memory;
  const refuse = (name) => () => { throw new Error(`unit tests must not call ${name}`); };
  const imports = {
    [iface("logging")]: {
      log(level, ptr, len) {
        lines.push(new TextDecoder().decode(new Uint8Array(memory.buffer, ptr, len)));
      },
    },
  };
  for (const { module: m, name } of WebAssembly.Module.imports(module)) {
    imports[m] ??= {};
    imports[m][name] ??= refuse(`${m}.${name}`);
  }
  const instance = new WebAssembly.Instance(module, imports);
  memory = instance.exports.memory;
  return { instance, lines };
}

function run(name) {
  const { instance, lines } = instantiate();
  try {
    instance.exports[name]();
  } catch (e) {
    throw new Error(lines.join("\n") || String(e));
  }
}

test("the unit module imports only the logging interface", () => {
  const modules = new Set(WebAssembly.Module.imports(module).map((i) => i.module));
  modules.delete(iface("objects"));
  modules.delete(iface("messaging"));
  assert.deepEqual([...modules], [iface("logging")]);
});

test("a failed check fails with the SDK's abort report", () => {
  assert.throws(() => run("test_failing_check_aborts"), {
    message: /^handler aborted: deliberate: expected "expected", got "actual" at tests\/unit\.ts:\d+:\d+$/,
  });
});

test("AssemblyScript unit tests", async (t) => {
  const names = WebAssembly.Module.exports(module)
    .map((e) => e.name)
    .filter((n) => n.startsWith("test_") && n !== "test_failing_check_aborts");
  assert.ok(names.length > 0);
  for (const name of names) await t.test(name.slice(5).replaceAll("_", " "), () => run(name));
});

// A fresh instance with unit.ts's `Echo` lifecycle hooks, and the host's side of the canonical ABI.
function lifecycle() {
  const { instance, lines } = instantiate();
  const ex = instance.exports;
  const view = () => new DataView(ex.memory.buffer);
  const lower = (s) => {
    const bytes = new TextEncoder().encode(s);
    const ptr = ex.cabi_realloc(0, 0, 1, bytes.length);
    new Uint8Array(ex.memory.buffer, ptr, bytes.length).set(bytes);
    return [ptr, bytes.length];
  };
  // The `request` record flattened: operation, caller kind, then six strings as (ptr, len).
  const flat = ({ operation, kind = 0, name = "acme-1", tenant = "acme", entity, recordId = "", data = "null", query = "null" }) =>
    [operation, kind, ...[name, tenant, entity, recordId, data, query].flatMap(lower)];
  const string = (at) => {
    const ptr = view().getUint32(at, true);
    const len = view().getUint32(at + 4, true);
    return new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(ex.memory.buffer, ptr, len));
  };
  const option = (at) => {
    const tag = view().getUint8(at);
    assert.ok(tag <= 1, `option tag ${tag}`);
    return tag === 0 ? null : string(at + 4);
  };

  // `result<decision, string>`: tag at 0, error at 4/8; decision case at 4, refusal at 8/12 and
  // 16/20, amendment options at 8 and 20.
  const before = (request) => {
    const at = ex.__switchyard_before(...flat(request));
    assert.equal(at % 4, 0, "the result is aligned to 4");
    const v = view();
    let decided;
    if (v.getUint8(at) === 1) {
      decided = { err: string(at + 4) };
    } else {
      assert.equal(v.getUint8(at), 0, "result tag");
      const decision = v.getUint8(at + 4);
      if (decision === 0) decided = { allow: true };
      else if (decision === 1) decided = { deny: { code: string(at + 8), message: string(at + 16) } };
      else if (decision === 2) decided = { modify: { data: option(at + 8), filters: option(at + 20) } };
      else assert.fail(`decision case ${decision}`);
    }
    ex.__switchyard_post_before(at);
    return decided;
  };
  // `result<_, string>`: tag at 0, error at 4/8.
  const after = (request, outcome) => {
    const at = ex.__switchyard_after(...flat(request), ...lower(outcome));
    const decided = view().getUint8(at) === 0 ? { ok: true } : { err: string(at + 4) };
    ex.__switchyard_post_after(at);
    return decided;
  };
  return { before, after, lines };
}

test("lifecycle before: each decision in the canonical layout", () => {
  const { before } = lifecycle();
  assert.deepEqual(before({ operation: 2, entity: "Note" }), { allow: true });
  assert.deepEqual(before({ operation: 5, kind: 2, name: "opérateur", tenant: "t", entity: "Deny", recordId: "n-1" }),
    { deny: { code: "denied", message: "delete by 2:opérateur in t of n-1" } });
  assert.deepEqual(before({ operation: 5, entity: "Empty" }), { deny: { code: "", message: "" } });
  assert.deepEqual(before({ operation: 3, entity: "Modify", data: "{\"text\":\"grüße 🚀\"}", query: "[1]" }),
    { modify: { data: "{\"text\":\"grüße 🚀\"}", filters: "[1]" } });
  assert.deepEqual(before({ operation: 6, entity: "Filters" }), { modify: { data: null, filters: "[]" } });
  assert.deepEqual(before({ operation: 7, kind: 1, name: "c1", entity: "Fail" }), { err: "no unsubscribe for c1" });
  // One instance answers many requests: the post-returns leave the static areas reusable.
  for (let i = 0; i < 50; i++) {
    assert.deepEqual(before({ operation: 3, entity: "Modify", data: "{}".repeat(i), query: "q" }),
      { modify: { data: "{}".repeat(i), filters: "q" } });
  }
});

test("lifecycle after: ok or the reason", () => {
  const { after } = lifecycle();
  assert.deepEqual(after({ operation: 3, entity: "Note" }, "{\"success\":true}"), { ok: true });
  assert.deepEqual(after({ operation: 4, entity: "Fail", recordId: "n-2" }, "{\"success\":false}"),
    { err: "update n-2 {\"success\":false}" });
});

test("lifecycle before: a throw traps with the SDK's abort report", () => {
  const { before, lines } = lifecycle();
  assert.throws(() => before({ operation: 2, entity: "Trap", recordId: "n-3" }), WebAssembly.RuntimeError);
  assert.match(lines.join("\n"), /^handler aborted: trapping on n-3 at tests\/unit\.ts:\d+:\d+$/);
});
