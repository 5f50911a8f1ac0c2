/** LOOM's version, shown by `loom --version` and in `serverInfo`. */
export const VERSION = "0.1.0";
