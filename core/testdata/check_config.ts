// Stands in for `main.ts check-config` in core/config_test.ts: load (or exit 2), then print.
import { loadConfigOrExit } from "../cli_config.ts";
import { formatEffectiveConfig } from "../config.ts";

const cfg = await loadConfigOrExit(Deno.env.toObject(), Deno.args[0]);
console.log(formatEffectiveConfig(cfg));
