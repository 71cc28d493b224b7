/**
 * The real two-node Ray cluster the tests in tests/ray/ run against (scripts/ray_cluster.sh): its address
 * and token from the RAY_TEST_* variables that `scripts/ray_cluster.sh exec` sets, and the two moves a test
 * makes on its nodes (kill a raylet, start a node again). Node "a" is the head at 127.0.0.1, "b" at
 * 127.0.0.2. These tests run only inside the cluster's namespace:
 *   scripts/ray_cluster.sh exec deno test -A tests/ray/<file>
 */

export type ClusterNode = "a" | "b";

export const NODE_IP: Record<ClusterNode, string> = { a: "127.0.0.1", b: "127.0.0.2" };

function env(name: string): string {
  const value = Deno.env.get(name);
  if (!value) {
    throw new Error(
      `${name} is not set: run under scripts/ray_cluster.sh (scripts/ray_cluster.sh exec deno test -A tests/ray/...)`,
    );
  }
  return value;
}

/** The Jobs API address, e.g. http://127.0.0.1:8265. */
export function rayAddress(): string {
  return env("RAY_TEST_ADDRESS");
}

/** The cluster's token, read from its 0600 file; never print it. */
export function rayToken(): string {
  return Deno.readTextFileSync(env("RAY_TEST_TOKEN_FILE")).trim();
}

/** SIGKILLs the node's raylet: the node dies under whatever runs on it. */
export function killRaylet(node: ClusterNode): Promise<void> {
  return cluster("kill-raylet", node);
}

/** Starts the node again (after killRaylet); it joins with a new node id. */
export function startNode(node: ClusterNode): Promise<void> {
  return cluster("start-node", node);
}

async function cluster(command: string, node: ClusterNode): Promise<void> {
  const script = env("RAY_TEST_CLUSTER");
  const out = await new Deno.Command(script, { args: [command, node], stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    const stderr = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`"${script} ${command} ${node}" exited with ${out.code}: ${stderr}`);
  }
}
