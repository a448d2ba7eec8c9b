// The run manifest: types generated from schemas/manifest.schema.json, canonical JSON, exports.
export { canonicalDigest, canonicalJson } from "./canonical.js";
export { toProvJson, toRoCrate, toSlsaStatement } from "./export.js";
