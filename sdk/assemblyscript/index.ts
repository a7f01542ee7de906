// `import { ... } from "switchyard-plugin"` resolves here (asc looks for index.ts at a package's root).
export * from "./assembly/index";
