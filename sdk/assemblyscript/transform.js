// asc transform: gives the SDK's glue functions their canonical-ABI export names, which are not
// AssemblyScript identifiers, and fails the build early if the module would not fit its world
// (so the server's upload check never has to be the first to say so). A module is of the
// `plugin` world (a message handler), the `broker-hooks` world or the `lifecycle-hooks` world,
// told by the glue its entry file exports.
//
// Dependency-free on purpose: asc hands us its own binaryen as `this.binaryen`, and a plugin
// links this package from the repository, where importing "assemblyscript" would resolve to a
// different copy than the one running the build.

// The version of wit/plugin.wit the glue in assembly/ implements.
const WIT_VERSION = "0.2.0";
const iface = (name) => `switchyard:plugin/${name}@${WIT_VERSION}`;

// Each world: what such a plugin is (for error messages), the glue module its entry file re-exports,
// the glue's renames (one function may take several names) and the interfaces it may import.
const WORLDS = [
  {
    name: "switchyard:plugin",
    kind: "a message handler",
    glue: "switchyard-plugin/exports",
    renames: [
      ["__switchyard_handle", `${iface("handler")}#handle`],
      ["__switchyard_post_handle", `cabi_post_${iface("handler")}#handle`],
    ],
    imports: ["objects", "messaging", "logging"],
  },
  {
    name: "switchyard:plugin broker-hooks",
    kind: "broker hooks",
    glue: "switchyard-plugin/hooks",
    renames: ["authenticate", "authorize-subscribe", "authorize-publish"].flatMap((hook) => [
      [`__switchyard_${hook.replace("-", "_")}`, `${iface("hooks")}#${hook}`],
      ["__switchyard_post_hook", `cabi_post_${iface("hooks")}#${hook}`],
    ]),
    imports: ["logging"],
  },
  {
    name: "switchyard:plugin lifecycle-hooks",
    kind: "lifecycle hooks",
    glue: "switchyard-plugin/lifecycle",
    renames: ["before", "after"].flatMap((hook) => [
      [`__switchyard_${hook}`, `${iface("lifecycle")}#${hook}`],
      [`__switchyard_post_${hook}`, `cabi_post_${iface("lifecycle")}#${hook}`],
    ]),
    imports: ["objects", "logging"],
  },
];

export default class SwitchyardTransform {
  afterCompile(module) {
    const binaryen = this.binaryen;
    const exported = (name) => module.getExport(name) !== 0;
    const worlds = WORLDS.filter((world) => exported(world.renames[0][0]));
    if (worlds.length !== 1) {
      throw buildError(worlds.length === 0
        ? "the entry file exports no glue; add " +
          or(WORLDS.map((w) => `\`export * from "${w.glue}";\` (${w.kind})`)) + " to it"
        : `the entry file exports the glue of ${worlds.map((w) => w.kind).join(" and ")}; ` +
          `a plugin is exactly one of ${or(WORLDS.map((w) => w.kind))}`);
    }
    const [world] = worlds;

    const sources = new Map();
    for (const [from, to] of world.renames) {
      if (!sources.has(from)) {
        if (!exported(from)) {
          throw buildError(`the entry file does not export \`${from}\`; re-export all of "${world.glue}"`);
        }
        sources.set(from, binaryen.getExportInfo(module.getExport(from)).value);
        module.removeExport(from);
      }
      module.addFunctionExport(sources.get(from), to);
    }

    const exports = new Set(["memory", "cabi_realloc", ...world.renames.map(([, to]) => to)]);
    const imports = new Set(world.imports.map(iface));
    const problems = [];
    for (let i = 0, n = module.getNumExports(); i < n; i++) {
      const { name } = binaryen.getExportInfo(module.getExportByIndex(i));
      if (!exports.has(name)) {
        problems.push(`the module exports \`${name}\`, which the ${world.name} world does not accept ` +
          `(export only the SDK glue from the entry file)`);
      }
    }
    for (let i = 0, n = module.getNumFunctions(); i < n; i++) {
      const info = binaryen.getFunctionInfo(module.getFunctionByIndex(i));
      if (info.module && !imports.has(info.module)) {
        problems.push(`the module imports \`${info.module}.${info.base}\`, which the ${world.name} world ` +
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

// "a, b or c".
function or(items) {
  return items.length < 2 ? items.join("") : `${items.slice(0, -1).join(", ")} or ${items[items.length - 1]}`;
}

function hint(module, base) {
  if (module === "env" && ["abort", "trace", "seed"].includes(base)) {
    return " (extend the SDK's asconfig.json, which routes it to the logging import)";
  }
  if (module === "env" && base.startsWith("Date")) return " (use message.timestampMs instead of Date)";
  if (module === "env" && base.startsWith("console")) return " (use log.info and friends instead of console)";
  if (module.startsWith("wasi")) return " (plugins have no WASI: no files, clock, environment or console)";
  if (module.startsWith("switchyard:plugin/")) {
    return ` (this SDK builds plugins for switchyard:plugin@${WIT_VERSION}; broker hooks may only log, ` +
      "lifecycle hooks may only use objects and log)";
  }
  return "";
}
