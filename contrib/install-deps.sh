#!/bin/sh
# Install what weft needs to build and test on Debian 12 (uses sudo when
# not root). Peers (Open MPI, MPICH) come along for the comparison runs.
set -e
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    autoconf automake libtool pkg-config make gcc libc6-dev \
    libhwloc-dev libssl-dev libcriterion-dev libfabric-dev libucx-dev \
    hwloc-nox python3 procps iproute2 libpmix-dev slurm-wlm munge \
    libfabric-bin >/dev/null
# ucx_perftest: the peer of the ucx transport's performance runs
$SUDO apt-get install -y -qq --no-install-recommends ucx-utils >/dev/null
echo "install-deps: done"
