/**
 * `npm run cluster:up` / `cluster:down`: the local primary + 2 streaming
 * replicas that the standalone mode (`npm start`) connects to, kept in
 * `<repo>/.data/cluster` so it survives between runs (as root, when the
 * postgres user cannot reach that folder, it is a symlink to one it can).
 *
 *   tsx scripts/cluster_cli.ts up      start (or reuse) it; print DATABASE_URL= and READ_REPLICA_URLS=
 *   tsx scripts/cluster_cli.ts down    stop it (data is kept)
 *   tsx scripts/cluster_cli.ts status  list nodes and whether each runs
 */
import { fileURLToPath } from "node:url";
import {
  localClusterLocation,
  localClusterStatus,
  startLocalCluster,
  stopLocalCluster,
} from "../backend/standalone/local_cluster/local_cluster";

const CLUSTER_DIR = fileURLToPath(new URL("../.data/cluster", import.meta.url));
const REPLICAS = 2;

async function main(command: string | undefined): Promise<void> {
  switch (command) {
    case "up": {
      // Progress goes to stderr so stdout stays `eval`-able / `>> .env`-able.
      const cluster = await startLocalCluster({
        dir: CLUSTER_DIR,
        replicas: REPLICAS,
        log: (line) => console.error(`cluster: ${line}`),
      });
      if (cluster.dir !== CLUSTER_DIR)
        console.error(`cluster: data in ${cluster.dir}`);
      console.log(`DATABASE_URL=${cluster.primary.url}`);
      console.log(
        `READ_REPLICA_URLS=${cluster.replicas.map((r) => r.url).join(",")}`,
      );
      return;
    }
    case "down":
      await stopLocalCluster(CLUSTER_DIR);
      console.error(
        `cluster: stopped (data kept in ${(await localClusterLocation(CLUSTER_DIR)).dir})`,
      );
      return;
    case "status": {
      const nodes = await localClusterStatus(CLUSTER_DIR);
      if (!nodes) {
        console.log(`no cluster in ${CLUSTER_DIR} (run: npm run cluster:up)`);
        return;
      }
      for (const n of nodes) {
        console.log(
          `${n.name.padEnd(10)} ${n.role.padEnd(8)} ${n.running ? "running" : "stopped"}  ${n.url}`,
        );
      }
      return;
    }
    default:
      throw new Error(
        `unknown command "${command ?? ""}"; use: up | down | status`,
      );
  }
}

main(process.argv[2]).catch((err: unknown) => {
  console.error(
    `cluster ${process.argv[2] ?? ""} failed: ${err instanceof Error ? err.message : String(err)}`,
  );
  process.exit(1);
});
