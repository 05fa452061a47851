#!/usr/bin/env bash
# Bootstrap the kind clusters of the Kubernetes dev loop (README.md, "Kubernetes dev loop").
#
#   k8s/dev/bootstrap.sh          the dev cluster kind-tidal: Knative Serving (Kourier) and
#                                 Eventing with the Kafka broker, Strimzi Kafka, KEDA and
#                                 kube-prometheus-stack, then the `tidal` namespace
#   k8s/dev/bootstrap.sh backup   the second cluster kind-tidal-backup (Strimzi Kafka to restore
#                                 into) and the MinIO store both clusters reach, for the
#                                 cross-cluster backup demo
#
# Needs docker, kind, kubectl and helm. Every component is pinned in k8s/dev/versions.env (the
# one place); re-running is safe (kubectl apply, helm upgrade --install, clusters created only
# when missing).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly ROOT
readonly HERE="${ROOT}/k8s/dev"
# shellcheck source=k8s/dev/versions.env
source "${HERE}/versions.env"
readonly GITHUB=https://github.com

log() { printf '\n==> %s\n' "$*"; }

require() {
  local tool
  for tool in "$@"; do
    command -v "${tool}" >/dev/null || { echo "bootstrap: ${tool} is not installed" >&2; exit 1; }
  done
}

cluster() {  # name config
  if kind get clusters | grep -qx "$1"; then
    log "kind cluster $1 exists"
  else
    log "creating kind cluster $1"
    kind create cluster --config "$2" --wait 120s
  fi
  kubectl config use-context "kind-$1" >/dev/null
}

available() {  # namespace
  kubectl -n "$1" wait deployment --all --for=condition=Available --timeout=300s
}

knative_serving() {
  log "Knative Serving ${KNATIVE_SERVING} with Kourier ${KNATIVE_KOURIER}"
  local base="${GITHUB}/knative/serving/releases/download/${KNATIVE_SERVING}"
  kubectl apply -f "${base}/serving-crds.yaml"
  kubectl apply -f "${base}/serving-core.yaml"
  kubectl apply -f "${GITHUB}/knative/net-kourier/releases/download/${KNATIVE_KOURIER}/kourier.yaml"
  kubectl -n knative-serving patch configmap config-network --type merge \
    -p '{"data":{"ingress-class":"kourier.ingress.networking.knative.dev"}}'
  kubectl -n knative-serving patch configmap config-domain --type merge \
    -p '{"data":{"127.0.0.1.sslip.io":""}}'
  # the chart's pods carry a restricted pod securityContext, which a default Knative refuses
  # (emptyDir volumes, the chart's /tmp, are allowed by default: podspec-volumes-emptydir)
  kubectl -n knative-serving patch configmap config-features --type merge \
    -p '{"data":{"kubernetes.podspec-securitycontext":"enabled"}}'
  available knative-serving
}

knative_eventing() {
  log "Knative Eventing ${KNATIVE_EVENTING} and the Kafka broker ${KNATIVE_KAFKA}"
  local base="${GITHUB}/knative/eventing/releases/download/${KNATIVE_EVENTING}"
  kubectl apply -f "${base}/eventing-crds.yaml"
  kubectl apply -f "${base}/eventing-core.yaml"
  local kafka="${GITHUB}/knative-extensions/eventing-kafka-broker/releases/download/${KNATIVE_KAFKA}"
  kubectl apply -f "${kafka}/eventing-kafka-controller.yaml"
  kubectl apply -f "${kafka}/eventing-kafka-broker.yaml"
  # the KafkaSink the chart's Triggers dead-letter to (knative.deadLetterSink.kafkaTopic)
  kubectl apply -f "${kafka}/eventing-kafka-sink.yaml"
  kubectl apply -f "${HERE}/kafka-broker-config.yaml"
  available knative-eventing
}

strimzi_kafka() {
  log "Strimzi ${STRIMZI} and a one-node Kafka"
  helm upgrade --install strimzi oci://quay.io/strimzi-helm/strimzi-kafka-operator \
    --version "${STRIMZI}" --namespace kafka --create-namespace --wait
  kubectl apply -f "${HERE}/kafka.yaml"
  kubectl -n kafka wait kafka/tidal --for=condition=Ready --timeout=600s
}

keda() {
  log "KEDA ${KEDA}"
  helm repo add kedacore https://kedacore.github.io/charts --force-update >/dev/null
  helm upgrade --install keda kedacore/keda --version "${KEDA}" \
    --namespace keda --create-namespace --wait
}

prometheus_stack() {
  log "kube-prometheus-stack ${KUBE_PROMETHEUS_STACK} (release kps)"
  helm repo add prometheus-community https://prometheus-community.github.io/helm-charts \
    --force-update >/dev/null
  helm upgrade --install kps prometheus-community/kube-prometheus-stack \
    --version "${KUBE_PROMETHEUS_STACK}" --namespace monitoring --create-namespace \
    --values "${HERE}/kube-prometheus-stack-values.yaml" --wait --timeout 10m
}

tidal_namespace() {
  kubectl create namespace tidal --dry-run=client -o yaml | kubectl apply -f -
  kubectl label namespace tidal --overwrite pod-security.kubernetes.io/enforce=restricted
}

minio() {
  if docker ps --format '{{.Names}}' | grep -qx tidal-minio; then
    log "MinIO tidal-minio is running"
  else
    log "MinIO ${MINIO_IMAGE} on the kind network as tidal-minio:9000"
    docker run -d --name tidal-minio --network kind \
      -e MINIO_ROOT_USER=tidal -e MINIO_ROOT_PASSWORD=tidal-dev-secret \
      "${MINIO_IMAGE}" server /data
  fi
  # the second cluster's BackupLocation lists and reads the store, and its Restores read it,
  # as tidal-reader (list and read the bucket only; the image ships mc on its PATH)
  local tries=0
  until docker exec tidal-minio mc alias set local http://127.0.0.1:9000 tidal tidal-dev-secret \
      >/dev/null 2>&1; do
    tries=$((tries + 1))
    [[ ${tries} -lt 30 ]] || { echo "bootstrap: MinIO did not start" >&2; exit 1; }
    sleep 2
  done
  docker cp "${HERE}/backup-demo/minio-read-only.json" tidal-minio:/tmp/tidal-backups-read.json
  docker exec tidal-minio mc admin user add local tidal-reader tidal-reader-secret
  docker exec tidal-minio mc admin policy create local tidal-backups-read \
    /tmp/tidal-backups-read.json
  docker exec tidal-minio mc admin policy attach local tidal-backups-read --user tidal-reader \
    || docker exec tidal-minio mc admin user info local tidal-reader | grep -q tidal-backups-read
}

main_cluster() {
  cluster tidal "${ROOT}/kind-config.yaml"
  knative_serving
  strimzi_kafka
  knative_eventing
  keda
  prometheus_stack
  tidal_namespace
  log "ready: skaffold dev -p knative   (or -p kafka-keda)"
}

backup_cluster() {
  cluster tidal-backup "${ROOT}/kind-config-backup.yaml"
  strimzi_kafka
  tidal_namespace
  minio
  log "ready: skaffold run -p backup; then in kind-tidal:"
  log "kubectl -n tidal create secret generic minio-credentials \\
    --from-literal=AWS_ACCESS_KEY_ID=tidal --from-literal=AWS_SECRET_ACCESS_KEY=tidal-dev-secret
kubectl apply -f k8s/dev/backup-demo/backuppolicy.yaml
and in kind-tidal-backup (read-only credentials for its BackupLocation, backuplocation.yaml):
kubectl --context kind-tidal-backup -n tidal create secret generic minio-read-only \\
    --from-literal=AWS_ACCESS_KEY_ID=tidal-reader \\
    --from-literal=AWS_SECRET_ACCESS_KEY=tidal-reader-secret
skaffold run -p restore; k8s/dev/backup-demo/restore.sh"
}

require docker kind kubectl helm
case "${1:-main}" in
  main) main_cluster ;;
  backup) backup_cluster ;;
  *) echo "usage: $0 [main|backup]" >&2; exit 2 ;;
esac
