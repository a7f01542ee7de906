// Compiles tests/unit.ts with the SDK's runtime replacements (tests/asconfig.json) and runs each exported `test_*`
// function in a fresh instance. The world's imports are stubbed: `log` collects lines (the SDK's
// abort handler reports failures through it), anything else is a test error.
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
