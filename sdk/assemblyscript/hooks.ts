// `export * from "switchyard-plugin/hooks";` in a broker-hooks plugin's entry file exports the glue.
export * from "./assembly/hooks-exports";
