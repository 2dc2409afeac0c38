//! Which IP addresses a webhook may reach without `allow_private = true`: the SSRF guard's
//! one rule, applied by [`super::send`] to literal hosts and to every resolved address.
//!
//! An address is public unless it falls in a range below. IPv6 forms that carry an IPv4
//! address are judged by that IPv4 address, since a gateway (NAT64, a 6to4 or Teredo relay,
//! the kernel for mapped addresses) may deliver them to it; so `[64:ff9b::7f00:1]` is
//! loopback.
//!
//! | IPv4 (not public) | why |
//! |---|---|
//! | `0.0.0.0/8` | "this network"; `0.0.0.0` reaches the local host |
//! | `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16` | private (RFC 1918) |
//! | `100.64.0.0/10` | carrier-grade NAT (RFC 6598) |
//! | `127.0.0.0/8` | loopback |
//! | `169.254.0.0/16` | link-local, cloud metadata services |
//! | `192.0.0.0/24` | IETF protocol assignments (RFC 6890) |
//! | `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24` | documentation |
//! | `192.88.99.0/24` | former 6to4 relay anycast (RFC 7526) |
//! | `198.18.0.0/15` | benchmarking |
//! | `224.0.0.0/4` | multicast |
//! | `240.0.0.0/4` | reserved, and `255.255.255.255` broadcast |
//!
//! | IPv6 | rule |
//! |---|---|
//! | `::`, `::1` | not public (unspecified, loopback) |
//! | `::a.b.c.d` (IPv4-compatible, `::/96`) | judged by `a.b.c.d` |
//! | `::ffff:a.b.c.d` (IPv4-mapped) | judged by `a.b.c.d` |
//! | `::ffff:0:a.b.c.d` (IPv4-translated, RFC 2765) | judged by `a.b.c.d` |
//! | `64:ff9b::a.b.c.d` (NAT64, RFC 6052) | judged by `a.b.c.d` |
//! | `64:ff9b:1::/48` | not public (local-use NAT64, RFC 8215) |
//! | `100::/64` | not public (discard-only) |
//! | `2001::/32` (Teredo) | judged by the server (bits 32–63) and the client (last 32 bits, inverted); either non-public refuses |
//! | `2001:db8::/32`, `3fff::/20` | not public (documentation) |
//! | `2002::/16` (6to4) | judged by the IPv4 in bits 16–47 |
//! | `fc00::/7` | not public (unique local) |
//! | `fe80::/10`, `fec0::/10` | not public (link-local, old site-local) |
//! | `ff00::/8` | not public (multicast) |

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// True for addresses on the public internet; see the module doc for every range refused.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b))
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 0 && c == 2)
        || (a == 192 && b == 88 && c == 99)
        || (a == 198 && (b == 18 || b == 19))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        // 224/4 multicast and 240/4 reserved, which holds the broadcast address.
        || a >= 224)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    match s {
        // `::` and `::1` are in `::/96` too, as 0.0.0.0 and 0.0.0.1: both in 0/8.
        [0, 0, 0, 0, 0, 0, high, low] => is_public_v4(embedded(high, low)),
        [0, 0, 0, 0, 0, 0xffff, high, low] => is_public_v4(embedded(high, low)),
        [0, 0, 0, 0, 0xffff, 0, high, low] => is_public_v4(embedded(high, low)),
        [0x64, 0xff9b, 0, 0, 0, 0, high, low] => is_public_v4(embedded(high, low)),
        [0x64, 0xff9b, 1, ..] => false,
        [0x100, 0, 0, 0, ..] => false,
        [0x2001, 0, server_high, server_low, _, _, high, low] => {
            is_public_v4(embedded(server_high, server_low)) && is_public_v4(embedded(!high, !low))
        }
        [0x2001, 0xdb8, ..] => false,
        [0x2002, high, low, ..] => is_public_v4(embedded(high, low)),
        [0x3fff, second, ..] if second < 0x1000 => false,
        [first, ..] => {
            !((first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                || (first & 0xff00) == 0xff00)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every form the guard must know, with its verdict. The count is printed so a run shows
    /// how much was probed.
    const CASES: &[(&str, bool)] = &[
        // Public.
        ("93.184.216.34", true),
        ("8.8.8.8", true),
        ("1.1.1.1", true),
        ("100.63.255.255", true),
        ("100.128.0.1", true),
        ("172.15.255.255", true),
        ("172.32.0.1", true),
        ("192.0.1.1", true),
        ("198.17.255.255", true),
        ("198.20.0.1", true),
        ("223.255.255.255", true),
        ("2606:4700::1111", true),
        ("2a00:1450:4001::200e", true),
        // IPv4, not public.
        ("0.0.0.0", false),
        ("0.1.2.3", false),
        ("10.1.2.3", false),
        ("100.64.0.1", false),
        ("100.127.255.255", false),
        ("127.0.0.1", false),
        ("127.255.255.254", false),
        ("169.254.169.254", false),
        ("172.16.0.1", false),
        ("172.31.255.255", false),
        ("192.0.0.8", false),
        ("192.0.2.10", false),
        ("192.88.99.1", false),
        ("192.168.1.1", false),
        ("198.18.0.1", false),
        ("198.19.255.255", false),
        ("198.51.100.7", false),
        ("203.0.113.9", false),
        ("224.0.0.1", false),
        ("239.255.255.250", false),
        ("240.0.0.1", false),
        ("255.255.255.255", false),
        // IPv6, not public.
        ("::", false),
        ("::1", false),
        ("fc00::1", false),
        ("fd00::1", false),
        ("fe80::1", false),
        ("febf::1", false),
        ("fec0::1", false),
        ("ff02::1", false),
        ("ff05::2", false),
        ("2001:db8::1", false),
        ("3fff::1", false),
        ("3fff:fff::1", false),
        ("3fff:1000::1", true),
        ("100::1", false),
        ("64:ff9b:1::808:808", false),
        // IPv4-mapped.
        ("::ffff:127.0.0.1", false),
        ("::ffff:10.0.0.1", false),
        ("::ffff:169.254.169.254", false),
        ("::ffff:8.8.8.8", true),
        // IPv4-translated (RFC 2765).
        ("::ffff:0:127.0.0.1", false),
        ("::ffff:0:8.8.8.8", true),
        // IPv4-compatible.
        ("::127.0.0.1", false),
        ("::192.168.0.1", false),
        ("::8.8.8.8", true),
        // NAT64.
        ("64:ff9b::7f00:1", false),
        ("64:ff9b::10.0.0.1", false),
        ("64:ff9b::169.254.169.254", false),
        ("64:ff9b::8.8.8.8", true),
        // 6to4.
        ("2002:7f00:1::", false),
        ("2002:a00:1::1", false),
        ("2002:c0a8:101::1", false),
        ("2002:a9fe:a9fe::", false),
        ("2002:808:808::1", true),
        // Teredo: server 65.54.227.120 (public); client inverted in the last 32 bits.
        // !127.0.0.1 = 0x80ff_fffe; !10.0.0.1 = 0xf5ff_fffe; !8.8.8.8 = 0xf7f7_f7f7.
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", false),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", false),
        ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", true),
        // Teredo with a private server address.
        ("2001:0:a00:1:8000:63bf:f7f7:f7f7", false),
    ];

    #[test]
    fn every_form_gets_its_verdict() {
        for (ip, public) in CASES {
            let parsed: IpAddr = ip.parse().unwrap_or_else(|_| panic!("{ip} parses"));
            assert_eq!(is_public(parsed), *public, "{ip}");
        }
        let refused = CASES.iter().filter(|(_, public)| !public).count();
        println!(
            "public_address: {} forms probed, {refused} refused, {} allowed",
            CASES.len(),
            CASES.len() - refused
        );
    }

    #[test]
    fn every_private_ipv4_is_refused_in_every_ipv6_wrapping() {
        for v4 in [
            "127.0.0.1",
            "10.0.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
        ] {
            let v4: Ipv4Addr = v4.parse().unwrap();
            let [a, b, c, d] = v4.octets();
            let (high, low) = (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
            let wrapped = [
                format!("::{v4}"),
                format!("::ffff:{v4}"),
                format!("::ffff:0:{v4}"),
                format!("64:ff9b::{v4}"),
                format!("2002:{high:x}:{low:x}::"),
                format!("2001:0:4136:e378:0:0:{:x}:{:x}", !high, !low),
            ];
            for ip in wrapped {
                assert!(!is_public(ip.parse().unwrap()), "{ip} wraps {v4}");
            }
        }
    }
}
