"""CIDR functions: ``cidrhost``, ``cidrnetmask``, ``cidrsubnet``, ``cidrsubnets``."""

from __future__ import annotations

import ipaddress

from bake.hcl.engine.eval import FunctionError
from bake.hcl.engine.functions.registry import Library, p
from bake.hcl.engine.values import NUMBER, STRING

lib = Library()
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _net(prefix: str) -> Network:
    try:
        return ipaddress.ip_network(prefix, strict=False)
    except ValueError as err:
        raise FunctionError(f"invalid CIDR expression: {err}", arg=0) from None


@lib.define("cidrhost", p("prefix", STRING), p("hostnum", NUMBER))
def cidrhost(prefix: str, hostnum: int) -> str:
    net = _net(prefix)
    n = int(hostnum)
    if n < 0:
        n += net.num_addresses
    if not 0 <= n < net.num_addresses:
        raise FunctionError(f"prefix of {net.prefixlen} does not accommodate a host numbered {int(hostnum)}", arg=1)
    return str(net.network_address + n)


@lib.define("cidrnetmask", p("prefix", STRING))
def cidrnetmask(prefix: str) -> str:
    net = _net(prefix)
    if net.version != 4:
        raise FunctionError("only IPv4 networks have a netmask", arg=0)
    return str(net.netmask)


def _subnet(net: Network, newbits: int, netnum: int) -> Network:
    new_len = net.prefixlen + newbits
    if newbits < 0 or new_len > net.max_prefixlen:
        raise FunctionError(f"insufficient address space to extend prefix of {net.prefixlen} by {newbits}")
    if not 0 <= netnum < (1 << newbits):
        raise FunctionError(f"prefix extension of {newbits} does not accommodate a subnet numbered {netnum}")
    base = int(net.network_address) + (netnum << (net.max_prefixlen - new_len))
    return ipaddress.ip_network((base, new_len))


@lib.define("cidrsubnet", p("prefix", STRING), p("newbits", NUMBER), p("netnum", NUMBER))
def cidrsubnet(prefix: str, newbits: int, netnum: int) -> str:
    return str(_subnet(_net(prefix), int(newbits), int(netnum)))


@lib.define("cidrsubnets", p("prefix", STRING), variadic=p("newbits", NUMBER))
def cidrsubnets(prefix: str, *newbits: int) -> list[str]:
    net = _net(prefix)
    out: list[str] = []
    current = int(net.network_address)
    for i, nb in enumerate(newbits):
        n = int(nb)
        if n < 1:
            raise FunctionError("must extend prefix by at least one bit", arg=i + 1)
        new_len = net.prefixlen + n
        if new_len > net.max_prefixlen:
            raise FunctionError(f"insufficient address space to extend prefix of {net.prefixlen} by {n}", arg=i + 1)
        size = 1 << (net.max_prefixlen - new_len)
        current = (current + size - 1) // size * size  # align to the subnet size
        if current + size > int(net.network_address) + net.num_addresses:
            raise FunctionError(f"not enough remaining address space for a subnet with a prefix of {new_len} bits", arg=i + 1)
        out.append(str(ipaddress.ip_network((current, new_len))))
        current += size
    return out
