//! The manager's private socket (`/run/systemd/private`, `$XDG_RUNTIME_DIR/systemd/private`),
//! where `systemctl` talks to it without dbus-daemon in between: a peer-to-peer D-Bus connection
//! (EXTERNAL authentication, no `Hello`).
//!
//! zbus cannot read systemd's messages there as they come: systemd sets their Sender field to
//! its well-known name, `org.freedesktop.systemd1`, where zbus accepts only a unique name
//! (z-galaxy/zbus#1497). So the read half below rewrites that field, in place, to a unique name
//! of the same length before zbus parses the message; nothing else in the message moves.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

use zbus::conn::socket::{BoxedSplit, ReadHalf, Split};

/// What systemd puts in the Sender field on its private socket.
const SYSTEMD_NAME: &[u8] = b"org.freedesktop.systemd1";
/// A unique name as long as [`SYSTEMD_NAME`], so no offset or padding changes.
pub const PRIVATE_PEER: &str = ":1.systemd1_private_sock";
const _: () = assert!(SYSTEMD_NAME.len() == PRIVATE_PEER.len());

/// The D-Bus header field that names the sender (a string).
const FIELD_SENDER: u8 = 7;
/// A message's fixed header: endianness, type, flags, version, body length, serial, field length.
const PRIMARY_HEADER: usize = 16;
/// The protocol's limit on a whole message.
const MAX_MESSAGE: usize = 128 << 20;

/// Connects to the manager's private socket at `path` as a peer. Fails (for the caller to fall
/// back to the bus) when the socket is missing, not ours to use, or the manager will not talk.
pub async fn connect(path: &Path) -> zbus::Result<zbus::Connection> {
    let stream = UnixStream::connect(path).map_err(|e| zbus::Error::InputOutput(e.into()))?;
    stream
        .set_nonblocking(true)
        .map_err(|e| zbus::Error::InputOutput(e.into()))?;
    let stream = async_io::Async::new(stream).map_err(|e| zbus::Error::InputOutput(e.into()))?;
    let (read, write) = BoxedSplit::from(stream).take();
    let split: BoxedSplit = Split::new(Box::new(RenamingReader { inner: read }), write);
    zbus::connection::Builder::socket(split)
        .p2p()
        .auth_mechanism(zbus::AuthMechanism::External)
        .internal_executor(false)
        .build()
        .await
}

/// Reads whole messages off the socket and renames their sender before zbus parses them.
#[derive(Debug)]
struct RenamingReader {
    inner: Box<dyn ReadHalf>,
}

/// A reader with nothing left: the message it is asked for is already in hand.
#[derive(Debug)]
struct Exhausted;

#[zbus::export::async_trait::async_trait]
impl ReadHalf for Exhausted {
    async fn recvmsg(&mut self, _buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
        Ok((0, Vec::new()))
    }
}

#[zbus::export::async_trait::async_trait]
impl ReadHalf for RenamingReader {
    async fn receive_message(
        &mut self,
        seq: u64,
        already_received_bytes: &mut Vec<u8>,
        already_received_fds: &mut Vec<OwnedFd>,
    ) -> zbus::Result<zbus::Message> {
        let mut fds: Vec<OwnedFd> = std::mem::take(already_received_fds);
        let mut bytes = Vec::new();
        self.fill(&mut bytes, PRIMARY_HEADER, already_received_bytes, &mut fds)
            .await?;
        let total = message_len(&bytes).ok_or(zbus::Error::ExcessData)?;
        self.fill(&mut bytes, total, already_received_bytes, &mut fds)
            .await?;
        rename_sender(&mut bytes);
        // zbus's own reader parses it (keeping the receive sequence), reading from the bytes at
        // hand and never from the socket.
        ReadHalf::receive_message(&mut Exhausted, seq, &mut bytes, &mut fds).await
    }

    async fn recvmsg(&mut self, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
        self.inner.recvmsg(buf).await
    }

    fn can_pass_unix_fd(&self) -> bool {
        self.inner.can_pass_unix_fd()
    }

    async fn peer_credentials(&mut self) -> io::Result<zbus::fdo::ConnectionCredentials> {
        self.inner.peer_credentials().await
    }

    fn auth_mechanism(&self) -> zbus::AuthMechanism {
        self.inner.auth_mechanism()
    }
}

impl RenamingReader {
    /// Grows `bytes` to `len`, first from what the handshake read ahead, then from the socket.
    async fn fill(
        &mut self,
        bytes: &mut Vec<u8>,
        len: usize,
        ahead: &mut Vec<u8>,
        fds: &mut Vec<OwnedFd>,
    ) -> zbus::Result<()> {
        if bytes.len() < len && !ahead.is_empty() {
            let take = (len - bytes.len()).min(ahead.len());
            bytes.extend(ahead.drain(..take));
        }
        let mut pos = bytes.len();
        if pos >= len {
            return Ok(());
        }
        bytes.resize(len, 0);
        while pos < len {
            let (read, received) = self.inner.recvmsg(&mut bytes[pos..]).await?;
            if read == 0 {
                return Err(zbus::Error::InputOutput(
                    io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the manager closed the connection",
                    )
                    .into(),
                ));
            }
            fds.extend(received);
            pos += read;
        }
        Ok(())
    }
}

fn read_u32(bytes: &[u8], at: usize, little: bool) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(if little {
        u32::from_le_bytes(b)
    } else {
        u32::from_be_bytes(b)
    })
}

fn align(at: usize, to: usize) -> usize {
    at.div_ceil(to) * to
}

/// The whole message's length from its fixed header; `None` when that header is not D-Bus's.
fn message_len(header: &[u8]) -> Option<usize> {
    let little = match header.first()? {
        b'l' => true,
        b'B' => false,
        _ => return None,
    };
    let body = read_u32(header, 4, little)? as usize;
    let fields = read_u32(header, 12, little)? as usize;
    let total = align(PRIMARY_HEADER + fields, 8).checked_add(body)?;
    (total <= MAX_MESSAGE).then_some(total)
}

/// Replaces a Sender field of `org.freedesktop.systemd1` with [`PRIVATE_PEER`]. Walks the header
/// fields (an array of `(yv)` structs, each 8-aligned) and stops, leaving the message as it is,
/// at anything it does not know how to step over; zbus then judges the message itself.
fn rename_sender(msg: &mut [u8]) {
    let Some(&endian) = msg.first() else { return };
    let little = endian == b'l';
    let Some(fields_len) = read_u32(msg, 12, little) else {
        return;
    };
    let end = PRIMARY_HEADER + fields_len as usize;
    if end > msg.len() {
        return;
    }
    let mut at = PRIMARY_HEADER;
    while at < end {
        at = align(at, 8);
        // code, signature length (1), one type character, NUL
        let Some(&[code, 1, ty, 0]) = msg.get(at..at + 4) else {
            return;
        };
        at += 4;
        match ty {
            b's' | b'o' => {
                let Some(len) = read_u32(msg, at, little) else {
                    return;
                };
                let start = at + 4;
                let stop = start + len as usize;
                if stop >= end {
                    return;
                }
                if code == FIELD_SENDER && &msg[start..stop] == SYSTEMD_NAME {
                    msg[start..stop].copy_from_slice(PRIVATE_PEER.as_bytes());
                    return;
                }
                at = stop + 1;
            }
            b'g' => {
                let Some(&len) = msg.get(at) else { return };
                at += 1 + len as usize + 1;
            }
            b'u' | b'i' | b'b' => at = align(at, 4) + 4,
            b'y' => at += 1,
            b'n' | b'q' => at = align(at, 2) + 2,
            b'x' | b't' | b'd' => at = align(at, 8) + 8,
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A method return as systemd sends it on its private socket, built by zbus itself (with a
    /// placeholder sender, then given systemd's name as raw bytes).
    fn reply_from_systemd(little: bool) -> Vec<u8> {
        let call = zbus::Message::method_call("/org/freedesktop/systemd1", "GetUnit")
            .unwrap()
            .serial(std::num::NonZeroU32::new(7).unwrap())
            .build(&())
            .unwrap();
        let placeholder = ":1.xxxxxxxxxxxxxxxxxxxxx";
        assert_eq!(placeholder.len(), SYSTEMD_NAME.len());
        let endian = if little {
            zbus::zvariant::Endian::Little
        } else {
            zbus::zvariant::Endian::Big
        };
        let reply = zbus::Message::method_return(&call.header())
            .unwrap()
            .endian(endian)
            .sender(placeholder)
            .unwrap()
            .destination(":1.42")
            .unwrap()
            .build(&("/org/freedesktop/systemd1/unit/a_2eservice",))
            .unwrap();
        let mut bytes = reply.data().to_vec();
        let at = bytes
            .windows(placeholder.len())
            .position(|w| w == placeholder.as_bytes())
            .unwrap();
        bytes[at..at + SYSTEMD_NAME.len()].copy_from_slice(SYSTEMD_NAME);
        bytes
    }

    fn parse(bytes: Vec<u8>, little: bool) -> zbus::Result<zbus::Message> {
        let endian = if little {
            zbus::zvariant::Endian::Little
        } else {
            zbus::zvariant::Endian::Big
        };
        let ctxt = zbus::zvariant::serialized::Context::new_dbus(endian, 0);
        // SAFETY: the bytes are a message zbus built, with one name swapped for another.
        unsafe { zbus::Message::from_bytes(zbus::zvariant::serialized::Data::new(bytes, ctxt)) }
    }

    #[test]
    fn systemds_sender_is_renamed_so_zbus_reads_the_reply() {
        for little in [true, false] {
            let bytes = reply_from_systemd(little);
            assert_eq!(message_len(&bytes), Some(bytes.len()));
            // What zbus#1497 is about: as sent, the message is refused.
            assert!(parse(bytes.clone(), little).is_err());
            let mut renamed = bytes;
            rename_sender(&mut renamed);
            let msg = parse(renamed, little).expect("renamed message parses");
            let header = msg.header();
            assert_eq!(header.sender().unwrap().as_str(), PRIVATE_PEER);
            assert_eq!(header.destination().unwrap().as_str(), ":1.42");
            assert_eq!(header.reply_serial().unwrap().get(), 7);
            let (path,): (zbus::zvariant::OwnedObjectPath,) = msg.body().deserialize().unwrap();
            assert_eq!(path.as_str(), "/org/freedesktop/systemd1/unit/a_2eservice");
        }
    }

    #[test]
    fn other_senders_and_bodies_are_left_alone() {
        let call = zbus::Message::method_call("/org/freedesktop/systemd1", "GetUnit")
            .unwrap()
            .sender(":1.5")
            .unwrap()
            .build(&("org.freedesktop.systemd1",))
            .unwrap();
        let mut bytes = call.data().to_vec();
        let before = bytes.clone();
        rename_sender(&mut bytes);
        assert_eq!(bytes, before);
    }

    #[test]
    fn a_truncated_or_foreign_header_is_not_touched() {
        let mut short = b"l\x02\x01\x01".to_vec();
        rename_sender(&mut short);
        assert_eq!(short, b"l\x02\x01\x01");
        assert_eq!(message_len(b"x234567890123456"), None);
        let mut bytes = reply_from_systemd(true);
        let cut = bytes.len() / 3;
        rename_sender(&mut bytes[..cut]);
    }
}
