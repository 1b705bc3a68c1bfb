"""The cutover's checks from the machine running migrate: an SMTP greeting, a web page, a DNS
record. Each returns None when the answer is as planned, else the problem in one line."""

from __future__ import annotations


def smtp_banner(address: str, port: int) -> str | None:
    import socket
    try:
        with socket.create_connection((address, port), timeout=10) as sock:
            sock.settimeout(10)
            banner = sock.recv(512).decode("ascii", "replace")
            sock.sendall(b"QUIT\r\n")
    except OSError as exc:
        return f"no SMTP on [{address}]:{port}: {exc}"
    if not banner.startswith("220"):
        return f"[{address}]:{port} greets with {banner.strip()[:80]!r}, not 220"
    return None


def http_check(url: str, host_header: str | None, expect: str | None, status: int = 200,
                location: str | None = None, verify: bool = True) -> str | None:
    """GET ``url`` once (redirects are answers, not followed), sending ``host_header`` as the
    Host (and, over HTTPS, as the TLS server name the certificate must match). None when the
    answer has ``status`` and, for a 200, the body shows ``expect``; for a redirect, its
    Location is ``location`` (or ends with it, when that is a path)."""
    import http.client
    import ssl
    import urllib.parse
    parts = urllib.parse.urlsplit(url)
    address = parts.hostname or ""
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        if parts.scheme == "https":
            context = ssl.create_default_context()
            if not verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            name = host_header or address

            class _Sni(http.client.HTTPSConnection):
                def connect(self) -> None:  # the server name is the web host, not the address
                    http.client.HTTPConnection.connect(self)
                    self.sock = context.wrap_socket(self.sock, server_hostname=name)

            conn: http.client.HTTPConnection = _Sni(address, parts.port or 443, timeout=15,
                                                    context=context)
        else:
            conn = http.client.HTTPConnection(address, parts.port or 80, timeout=15)
        try:
            conn.request("GET", path, headers={"Host": host_header} if host_header else {})
            resp = conn.getresponse()
            body = resp.read(1024 * 1024).decode("utf-8", "replace")
            got, where = resp.status, resp.getheader("Location") or ""
        finally:
            conn.close()
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return f"{url}: {exc}"
    if got != status:
        return f"{url} answers {got}" + (f" (to {where})" if where else "") + \
            f", not {status}"
    if location and not (where == location or (location.startswith("/")
                                                and where.endswith(location))):
        return f"{url} redirects to {where or 'nowhere'}, not {location}"
    if expect and expect not in body:
        return f"{url} does not show {expect!r}"
    return None


def dns_check(name: str, rtype: str, value: str | None, max_ttl: int | None,
              nameserver: str | None = None, port: int = 53) -> str | None:
    """None when the planned record is served (``value``) or the record's TTL is low enough
    (``max_ttl``), asked of the system's resolver or of ``nameserver``; else the problem."""
    import dns.exception
    import dns.resolver
    resolver = dns.resolver.Resolver(configure=not nameserver)
    if nameserver:
        resolver.nameservers = [nameserver]
        resolver.port = port
    resolver.lifetime = 10
    try:
        answer = resolver.resolve(name, rtype)
    except (dns.exception.DNSException, OSError) as exc:
        return f"{name} {rtype}: {exc.__class__.__name__}: {exc}"
    values = {r.to_text().rstrip(".").lower().strip('"') for r in answer}
    if value is not None and value.rstrip(".").lower().strip('"') not in values:
        return f"{name} {rtype} is {sorted(values)}, not {value}"
    if max_ttl is not None and answer.rrset.ttl > max_ttl:
        return f"{name} {rtype} has TTL {answer.rrset.ttl}, more than {max_ttl} s"
    return None
