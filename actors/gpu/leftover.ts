/**
 * Trainers outliving their miner. The trainer runs in its own process group (so cancel reaps its
 * children), which also means a SIGKILLed miner leaves it running. Each run records its pid in the
 * task's work dir; before the next run there, a leftover whose command line still names that work
 * dir is killed with its group and waited for, so a task never trains twice into the same folder.
 */
import { signalGroup } from "./trainer_process.ts";

const PID_FILE = "trainer.pid";

export async function writePidFile(workDir: string, pid: number): Promise<void> {
  await Deno.writeTextFile(`${workDir}/${PID_FILE}`, `${pid}\n`);
}

export async function removePidFile(workDir: string): Promise<void> {
  await Deno.remove(`${workDir}/${PID_FILE}`).catch(() => {});
}

/** True while `pid` runs a command line containing `marker` (Linux /proc; elsewhere: unknown → false). */
export async function runsWith(pid: number, marker: string): Promise<boolean> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return false; // a zombie runs nothing
    const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`);
    return cmdline.split("\0").some((arg) => arg.includes(marker));
  } catch {
    return false;
  }
}

/**
 * Kills the trainer a previous run in `workDir` left behind, if any, and waits (up to `waitMs`) for
 * it to go. Returns its pid, or null when there was none.
 */
export async function reapLeftover(workDir: string, waitMs = 10_000): Promise<number | null> {
  let pid: number;
  try {
    pid = Number.parseInt(await Deno.readTextFile(`${workDir}/${PID_FILE}`), 10);
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 1 || !(await runsWith(pid, workDir))) {
    await removePidFile(workDir);
    return null;
  }
  signalGroup(pid, "SIGKILL");
  const until = Date.now() + waitMs;
  // Polling /proc is the only way to watch a process that is not our child.
  while (await runsWith(pid, workDir)) {
    if (Date.now() > until) throw new Error(`Cannot stop leftover trainer ${pid} in "${workDir}"`);
    await new Promise((r) => setTimeout(r, 20));
  }
  await removePidFile(workDir);
  return pid;
}
