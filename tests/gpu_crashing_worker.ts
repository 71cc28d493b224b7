/**
 * The real GPU worker plus a way to crash it from outside, as a native library would: when the file
 * named by SATORI_TEST_CRASH_FLAG appears, the worker removes it and throws an uncaught error.
 */
import "../actors/gpu/gpu_worker.ts";

const flag = Deno.env.get("SATORI_TEST_CRASH_FLAG");
if (flag) {
  setInterval(() => {
    try {
      Deno.removeSync(flag);
    } catch {
      return;
    }
    throw new Error("GPU worker crashed on purpose");
  }, 10);
}
