// `export * from "switchyard-plugin/lifecycle";` in a lifecycle-hooks plugin's entry file exports the glue.
export * from "./assembly/lifecycle-exports";
