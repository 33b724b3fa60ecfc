"""RFC 2136 dynamic update with TSIG, read by AXFR: BIND, Knot, PowerDNS and others."""
