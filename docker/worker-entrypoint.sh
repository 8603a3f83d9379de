#!/bin/sh
# Worker container entrypoint: make the memory, pids, cpu and cpuacct cgroup controllers writable for per-job groups, put the
# lab datasets into the data volume on first start, then run `labgrader "$@"` (default: `labgrader worker`).
# Everything here is best effort except the dataset import: without writable cgroups the sandbox still runs, falls
# back to rlimits and says so in /healthz and in every report.
set -eu

log() { echo "labgrader-worker-entrypoint: $*" >&2; }

cgroup_root="${LABGRADER_CGROUP_ROOT:-/sys/fs/cgroup}"
mnist="${LABGRADER_MNIST_NPZ:-/opt/labgrader/datasets/mnist.npz}"

writable_cgroups() {
    # Docker mounts the container's cgroup hierarchy read-only; a bind remount changes only this mount's flag.
    # Needs CAP_SYS_ADMIN and an AppArmor profile that allows mount (docker-default denies it).
    if ! mount -o remount,bind,rw "$1" 2>/dev/null; then
        log "cannot make $1 writable (needs cap_add SYS_ADMIN and security_opt apparmor=unconfined); per-job cgroup limits are off"
        return 1
    fi
}

if [ -f "$cgroup_root/cgroup.controllers" ]; then
    # cgroup v2: a group with processes cannot delegate controllers to children ("no internal processes"), so move
    # every process of the container into a leaf group first, then enable memory, pids and cpu for sibling groups.
    if writable_cgroups "$cgroup_root"; then
        mkdir -p "$cgroup_root/labgrader-service"
        while read -r pid; do
            echo "$pid" > "$cgroup_root/labgrader-service/cgroup.procs" 2>/dev/null || true
        done < "$cgroup_root/cgroup.procs"
        if echo "+memory +pids +cpu" > "$cgroup_root/cgroup.subtree_control" 2>/dev/null; then
            log "cgroup v2: memory, pids and cpu controllers delegated under $cgroup_root"
        else
            log "cgroup v2: could not enable memory, pids and cpu in $cgroup_root/cgroup.subtree_control"
        fi
    fi
else
    for controller in memory pids cpu cpuacct; do
        if [ -d "$cgroup_root/$controller" ] && writable_cgroups "$cgroup_root/$controller"; then
            log "cgroup v1: $cgroup_root/$controller is writable"
        fi
    done
fi

data_dir="${LABGRADER_DATA_DIR:-/var/lib/labgrader}"
if [ ! -f "$data_dir/labs/frameworks/hidden/mnist.npz" ]; then
    log "preparing the lab datasets in $data_dir"
    labgrader datasets import "$mnist" --as mnist.npz
fi

exec labgrader "$@"
