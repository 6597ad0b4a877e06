#!/usr/bin/env bash
# Namespaced hosts on one machine (TESTING.md), sourced by the tests that
# need several "hosts":
#
#   hosts_up PREFIX N   namespace PREFIX-sw holds a bridge; hosts PREFIX-h0
#                       .. PREFIX-h(N-1), each with eth0 on the bridge at
#                       127.77.0.(i+1)/24 (route_localnet; lo keeps only
#                       127.0.0.1, so the rest of 127/8 leaves by eth0).
#                       The switch side of host i is "h<i>" in PREFIX-sw:
#                       `ip -n PREFIX-sw link set h1 down` cuts host 1 off
#                       without a reset. Returns 1 (and cleans up) when
#                       namespaces cannot be made here.
#   hosts_down PREFIX   deletes every namespace hosts_up made.
#   host_addr I         the address of host I.

host_addr() { echo "127.77.0.$(($1 + 1))"; }

hosts_down() {
    local ns
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
        case $ns in "$1"-sw | "$1"-h*) ip netns delete "$ns" 2>/dev/null ;; esac
    done
}

hosts_up() {
    local p=$1 n=$2 i h
    command -v ip >/dev/null 2>&1 || return 1
    ip netns add "$p-sw" 2>/dev/null || return 1
    if ! ip -n "$p-sw" link add br0 type bridge ||
        ! ip -n "$p-sw" link set br0 up; then
        hosts_down "$p"
        return 1
    fi
    for ((i = 0; i < n; i++)); do
        h=$p-h$i
        if ! ip netns add "$h" ||
            ! ip link add eth0 netns "$h" type veth peer name "h$i" netns "$p-sw" ||
            ! ip -n "$p-sw" link set "h$i" master br0 ||
            ! ip -n "$p-sw" link set "h$i" up ||
            ! ip -n "$h" addr add 127.0.0.1/32 dev lo ||
            ! ip -n "$h" link set lo up ||
            ! ip -n "$h" route del local 127.0.0.0/8 dev lo table local ||
            ! ip netns exec "$h" sysctl -qw net.ipv4.conf.all.route_localnet=1 ||
            ! ip netns exec "$h" sysctl -qw net.ipv4.conf.eth0.route_localnet=1 ||
            ! ip -n "$h" addr add "$(host_addr "$i")/24" dev eth0 ||
            ! ip -n "$h" link set eth0 up; then
            hosts_down "$p"
            return 1
        fi
    done
    return 0
}
