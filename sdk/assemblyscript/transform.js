// asc transform: gives the SDK's glue functions their canonical-ABI export names, which are not
// AssemblyScript identifiers, and fails the build early if the module would not fit the
// switchyard:plugin world (so the server's upload check never has to be the first to say so).
//
// Dependency-free on purpose: asc hands us its own binaryen as `this.binaryen`, and a plugin
// links this package from the repository, where importing "assemblyscript" would resolve to a
// different copy than the one running the build.

// The version of wit/plugin.wit the glue in assembly/abi.ts and assembly/exports.ts implements.
const WIT_VERSION = "0.2.0";
const iface = (name) => `switchyard:plugin/${name}@${WIT_VERSION}`;

const RENAMES = [
  ["__switchyard_handle", `${iface("handler")}#handle`],
  ["__switchyard_post_handle", `cabi_post_${iface("handler")}#handle`],
];
const WORLD_EXPORTS = new Set(["memory", "cabi_realloc", ...RENAMES.map(([, to]) => to)]);
const WORLD_IMPORTS = new Set(["objects", "messaging", "logging"].map(iface));

export default class SwitchyardTransform {
  afterCompile(module) {
    const binaryen = this.binaryen;
    for (const [from, to] of RENAMES) {
      const ref = module.getExport(from);
      if (!ref) {
        throw buildError(
          `the entry file does not export \`${from}\`; add \`export * from "switchyard-plugin/exports";\` to it`,
        );
      }
      const { value } = binaryen.getExportInfo(ref);
      module.removeExport(from);
      module.addFunctionExport(value, to);
    }

    const problems = [];
    for (let i = 0, n = module.getNumExports(); i < n; i++) {
      const { name } = binaryen.getExportInfo(module.getExportByIndex(i));
      if (!WORLD_EXPORTS.has(name)) {
        problems.push(`the module exports \`${name}\`, which the switchyard:plugin world does not accept ` +
          `(export only the SDK glue from the entry file)`);
      }
    }
    for (let i = 0, n = module.getNumFunctions(); i < n; i++) {
      const info = binaryen.getFunctionInfo(module.getFunctionByIndex(i));
      if (info.module && !WORLD_IMPORTS.has(info.module)) {
        problems.push(`the module imports \`${info.module}.${info.base}\`, which the switchyard:plugin world ` +
          `does not provide${hint(info.module, info.base)}`);
      }
    }
    if (problems.length) throw buildError(problems.join("; "));
  }
}

// asc prints an error's stack; ours is about the user's module, not this file.
function buildError(message) {
  const error = new Error("switchyard-plugin: " + message);
  error.stack = error.message;
  return error;
}

function hint(module, base) {
  if (module === "env" && ["abort", "trace", "seed"].includes(base)) {
    return " (extend the SDK's asconfig.json, which routes it to the logging import)";
  }
  if (module === "env" && base.startsWith("Date")) return " (use message.timestampMs instead of Date)";
  if (module === "env" && base.startsWith("console")) return " (use log.info and friends instead of console)";
  if (module.startsWith("wasi")) return " (plugins have no WASI: no files, clock, environment or console)";
  if (module.startsWith("switchyard:plugin/")) {
    return ` (this SDK builds plugins for switchyard:plugin@${WIT_VERSION})`;
  }
  return "";
}
