//! The voice loops' UDP sockets: one per loop, each on a port of `--voice-udp-ports` (or an ephemeral
//! port), bound on `--voice-bind-ip`, and the address announced to browsers as the loop's ICE host
//! candidate.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

use super::VoiceSettings;

/// Receive buffer of each loop's socket: every member of the loop's rooms sends into this one socket,
/// so at 100 rooms (15,000 datagrams/s) a loop descheduled for 40 ms needs about 600 datagrams queued;
/// the kernel's default (about 208 KiB, some 270 small datagrams) would drop them. The kernel caps it
/// at `net.core.rmem_max`.
const RECEIVE_BUFFER: usize = 4 << 20;

/// A bound socket and the address its candidate announces.
#[derive(Debug)]
pub(super) struct Bound {
    pub(super) socket: UdpSocket,
    pub(super) announced: SocketAddr,
}

/// Binds up to `count` sockets: one port each from the configured range (ports another process holds
/// are skipped), or ephemeral ports without a range. At least one, or the error of the last attempt.
pub(super) fn bind(settings: &VoiceSettings, count: usize) -> Result<Vec<Bound>, String> {
    let ports: Vec<u16> = match settings.udp_ports {
        Some((first, last)) => (first..=last).collect(),
        None => vec![0; count],
    };
    let host = announced_ip(settings);
    let mut bound = Vec::new();
    let mut last_error = String::from("the voice UDP port range is empty");
    for port in ports {
        if bound.len() == count {
            break;
        }
        match bind_one(settings.bind_ip, port) {
            Ok(socket) => {
                let port = socket.local_addr().map_err(|e| e.to_string())?.port();
                bound.push(Bound { socket, announced: SocketAddr::new(host, port) });
            }
            Err(e) => last_error = format!("cannot bind UDP {}:{port}: {e}", settings.bind_ip),
        }
    }
    if bound.is_empty() { Err(last_error) } else { Ok(bound) }
}

fn bind_one(ip: IpAddr, port: u16) -> std::io::Result<UdpSocket> {
    let socket = UdpSocket::bind(SocketAddr::new(ip, port))?;
    if let Err(e) = socket2::SockRef::from(&socket).set_recv_buffer_size(RECEIVE_BUFFER) {
        tracing::debug!(error = %e, "cannot size the voice socket's receive buffer");
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// The address browsers send to: `--voice-public-ip`, else the bound address, else (bound on every
/// interface) the address this host's default route leaves from, else loopback (a host with no route,
/// such as a network namespace with loopback only).
fn announced_ip(settings: &VoiceSettings) -> IpAddr {
    if let Some(public) = settings.public_ip {
        return public;
    }
    if !settings.bind_ip.is_unspecified() {
        return settings.bind_ip;
    }
    default_route_ip().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// The source address the kernel picks for an outside destination: connecting a UDP socket sends
/// nothing, it only chooses the route. The destination is a documentation address (RFC 5737).
fn default_route_ip() -> Option<IpAddr> {
    let probe = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    probe.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).ok()?;
    let ip = probe.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(udp_ports: Option<(u16, u16)>) -> VoiceSettings {
        VoiceSettings {
            enabled: true,
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            public_ip: None,
            udp_ports,
            ice_servers: vec![],
        }
    }

    #[test]
    fn each_socket_takes_a_port_of_the_range_and_a_held_port_is_skipped() {
        let held = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = held.local_addr().unwrap().port();
        let range = Some((port, port.saturating_add(2)));
        let bound = bind(&settings(range), 2).unwrap();
        assert!(!bound.is_empty() && bound.len() <= 2);
        for b in &bound {
            assert_ne!(b.announced.port(), port, "the held port is skipped");
            assert_eq!(b.announced.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        assert!(bind(&settings(Some((port, port))), 1).is_err(), "nothing left to bind");
    }

    #[test]
    fn the_public_ip_is_announced_in_place_of_the_bound_one() {
        let mut s = settings(None);
        s.public_ip = Some(IpAddr::from([203, 0, 113, 7]));
        let bound = bind(&s, 1).unwrap();
        assert_eq!(bound[0].announced.ip(), IpAddr::from([203, 0, 113, 7]));
        assert_ne!(bound[0].announced.port(), 0);
    }
}
