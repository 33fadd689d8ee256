"""Who can reach a server deeprag starts: a loopback address (this machine only) needs no access control,
anything else needs a secret unless the user explicitly says --insecure.

`deeprag serve` (vLLM: an LLM anyone could use) and `deeprag ui` (the app: anyone could read, upload and delete
documents) both check here before starting anything, so a refused command leaves nothing running.
"""

from __future__ import annotations

import ipaddress

from ground.errors import DeepragError

# Names that always mean this machine. Any other name may resolve to a public address, so it counts as open.
LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost", "ip6-loopback"})


class UnprotectedBind(DeepragError):
    """A server would listen beyond this machine with no access control, and --insecure was not given."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine: 127.0.0.0/8, ::1 (also written [::1] or as
    ::ffff:127.x.y.z) or localhost. 0.0.0.0 and :: listen on every interface, so they are not."""
    name = host.strip().lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name.removeprefix("[").removesuffix("]"))
    except ValueError:  # a host name other than localhost: it may resolve anywhere
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def require_protection(what: str, host_key: str, host: str, protected: bool, insecure: bool, fix: str) -> bool:
    """Refuse (UnprotectedBind) to expose ``what`` on a non-loopback ``host`` unless ``protected`` (a secret is
    set) or ``insecure``; ``fix`` names how to set the secret. Returns whether the server will be open to the
    network without protection (the caller then says so once)."""
    if protected or is_loopback(host):
        return False
    if not insecure:
        raise UnprotectedBind(
            f"{host_key} = {host} is not a loopback address, so {what} to anyone who can reach this machine; "
            f"{fix}, or pass --insecure to run it without access control"
        )
    return True
