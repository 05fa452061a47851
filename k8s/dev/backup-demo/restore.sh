#!/usr/bin/env bash
# Cross-cluster backup demo, second cluster: create the Restore (restore.yaml) of a backup that
# the BackupLocation kind-tidal (backuplocation.yaml) lists in its status.backups.
#
#   k8s/dev/backup-demo/restore.sh              the newest verified backup of the demo policy
#   k8s/dev/backup-demo/restore.sh ID           that backup (it must be one the location lists)
#   k8s/dev/backup-demo/restore.sh --print ID   print the Restore only; needs no cluster
#
# The ids are those of
#   kubectl --context kind-tidal-backup -n tidal get backuplocation kind-tidal -o yaml
# (status.backups: policy, id, complete, verified, events, bytes; newest first per policy).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE
readonly CONTEXT=kind-tidal-backup
readonly NAMESPACE=tidal
readonly LOCATION=kind-tidal
readonly POLICY=tidal/events-to-backup-cluster

fail() { echo "restore.sh: $*" >&2; exit 1; }

manifest() {  # backup id: restore.yaml with spec.source.backupId under spec.source.policy
  awk -v id="$1" '{ print } /^    policy: / { print "    backupId: \"" id "\"" }' \
    "${HERE}/restore.yaml"
}

listed() {  # "policy id verified" per entry of the location's status.backups
  kubectl --context "${CONTEXT}" -n "${NAMESPACE}" get backuplocation "${LOCATION}" \
    -o jsonpath='{range .status.backups[*]}{.policy}{" "}{.id}{" "}{.verified}{"\n"}{end}'
}

if [[ "${1:-}" == "--print" ]]; then
  [[ $# -eq 2 && -n "$2" ]] || fail "usage: $0 --print BACKUP_ID"
  manifest "$2"
  exit 0
fi
[[ $# -le 1 ]] || fail "usage: $0 [BACKUP_ID | --print BACKUP_ID]"

backups="$(listed)"
[[ -n "${backups}" ]] || fail "BackupLocation ${LOCATION} lists no backup yet (it syncs every \
5 minutes; kubectl --context ${CONTEXT} -n ${NAMESPACE} get backuplocation ${LOCATION} -o yaml)"
printf 'BackupLocation %s lists (policy, id, verified):\n%s\n' "${LOCATION}" "${backups}"

if [[ $# -eq 1 ]]; then
  id="$1"
  awk -v p="${POLICY}" -v id="${id}" '$1 == p && $2 == id { found = 1 } END { exit !found }' \
    <<<"${backups}" || fail "BackupLocation ${LOCATION} lists no backup ${id} of ${POLICY}"
else
  id="$(awk -v p="${POLICY}" '$1 == p && $3 == "true" { print $2; exit }' <<<"${backups}")"
  [[ -n "${id}" ]] || fail "BackupLocation ${LOCATION} lists no verified backup of ${POLICY}"
fi

echo "restoring backup ${id} of ${POLICY}"
manifest "${id}" | kubectl --context "${CONTEXT}" create -f -
echo "kubectl --context ${CONTEXT} -n ${NAMESPACE} get restore events -w"
