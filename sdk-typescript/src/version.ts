/** This SDK's version (sent as MCP `clientInfo`). */
export const SDK_VERSION = "0.1.0";
