#!/usr/bin/env bash
# Registers an ephemeral runner (one job, then it exits and is replaced), labelled gpu, and runs it.
# Needs: GITHUB_URL (https://github.com/OWNER or OWNER/REPO), RUNNER_TOKEN (a registration token,
# short-lived), optional RUNNER_LABELS (default self-hosted,gpu) and RUNNER_GROUP.
# Under actions-runner-controller the controller does this itself (docs/gpu-runners.md).
set -euo pipefail
: "${GITHUB_URL:?set GITHUB_URL to https://github.com/OWNER or https://github.com/OWNER/REPO}"
: "${RUNNER_TOKEN:?set RUNNER_TOKEN to a runner registration token}"
nvidia-smi -L >/dev/null 2>&1 || echo "warning: no GPU visible to this container (run it with --gpus all)" >&2
./config.sh --unattended --ephemeral --disableupdate \
  --url "$GITHUB_URL" --token "$RUNNER_TOKEN" \
  --name "gpu-$(hostname)" --labels "${RUNNER_LABELS:-self-hosted,gpu}" \
  ${RUNNER_GROUP:+--runnergroup "$RUNNER_GROUP"} --work _work
unset RUNNER_TOKEN
exec ./run.sh
