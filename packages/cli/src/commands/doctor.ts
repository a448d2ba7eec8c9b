import type { DoctorCheck } from "@track-run/core/doctor";
import type { Command } from "commander";
import { readEnvironment } from "../context.js";
import { type CommandRunner, jsonOption } from "../program.js";

const mark: Record<DoctorCheck["state"], string> = { ok: "ok     ", missing: "missing", warning: "warning" };

export function registerDoctor(program: Command, run: CommandRunner): void {
  program
    .command("doctor")
    .description(
      "check what track-run needs on this machine (Node, git, Docker, registry, GPUs, key, ledger)",
    )
    .option("--registry <host:port>", "also check this container registry (default: $TRACK_RUN_REGISTRY)")
    .addOption(jsonOption())
    .action((opts: { registry?: string; json?: boolean }) =>
      run(opts, async (out) => {
        const env = readEnvironment();
        const registry = opts.registry ?? env.registry;
        const { runDoctor } = await import("@track-run/core/doctor");
        const report = await runDoctor({
          nodeVersion: process.version,
          docker: env.docker,
          ...(registry ? { registry } : {}),
          ...(env.signingKey ? { signingKey: env.signingKey } : {}),
          signingKeyInEnv: env.signingKeyInEnv,
          ledger: env.ledger,
        });
        out.result(report, () =>
          [
            ...report.checks.map(
              (c) =>
                `${mark[c.state]}  ${c.name.padEnd(12)} ${c.detail}${c.fix && c.state !== "ok" ? `\n         ${"".padEnd(12)} fix: ${c.fix}` : ""}`,
            ),
            report.ok ? "\nThe basics are in place." : "\nA required check failed (see fix above).",
          ].join("\n"),
        );
        return report.ok ? 0 : 1;
      }),
    );
}
