// `export * from "switchyard-plugin/exports";` in a plugin's entry file exports the glue.
export * from "./assembly/exports";
