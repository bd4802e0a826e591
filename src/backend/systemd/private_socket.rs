//! The manager's private socket (`/run/systemd/private`, `$XDG_RUNTIME_DIR/systemd/private`),
//! where `systemctl` talks to it without dbus-daemon in between: a peer-to-peer D-Bus connection
//! (EXTERNAL authentication, no `Hello`).
//!
//! zbus cannot read systemd's messages there as they come: systemd sets their Sender field to
//! its well-known name, `org.freedesktop.systemd1`, where zbus accepts only a unique name
//! (z-galaxy/zbus#1497). So the read half below rewrites that field, in place, to a unique name
//! of the same length before zbus parses the message; nothing else in the message moves.
//!
//! Its write half can also hold a burst of requests and send them in one write ([`Cork`]): every
//! write wakes the manager, and waking it 400 times for one status of 200 apps cost more than
//! anything else rgen did for that status.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;

use zbus::conn::socket::{BoxedSplit, ReadHalf, Split, WriteHalf};

/// What systemd puts in the Sender field on its private socket.
const SYSTEMD_NAME: &[u8] = b"org.freedesktop.systemd1";
/// A unique name as long as [`SYSTEMD_NAME`], so no offset or padding changes.
pub const PRIVATE_PEER: &str = ":1.systemd1_private_sock";
const _: () = assert!(SYSTEMD_NAME.len() == PRIVATE_PEER.len());

/// The D-Bus header field that names the sender (a string).
const FIELD_SENDER: u8 = 7;
/// The one that counts the descriptors passed along (a u32).
const FIELD_UNIX_FDS: u8 = 9;
/// A message's fixed header: endianness, type, flags, version, body length, serial, field length.
const PRIMARY_HEADER: usize = 16;
/// The protocol's limit on a whole message.
const MAX_MESSAGE: usize = 128 << 20;

/// Connects to the manager's private socket at `path` as a peer. Fails (for the caller to fall
/// back to the bus) when the socket is missing, not ours to use, or the manager will not talk.
pub async fn connect(path: &Path) -> zbus::Result<(zbus::Connection, Cork)> {
    let stream = UnixStream::connect(path).map_err(|e| zbus::Error::InputOutput(e.into()))?;
    stream
        .set_nonblocking(true)
        .map_err(|e| zbus::Error::InputOutput(e.into()))?;
    let stream = async_io::Async::new(stream).map_err(|e| zbus::Error::InputOutput(e.into()))?;
    let (read, write) = BoxedSplit::from(stream).take();
    let reader = RenamingReader {
        inner: read,
        ahead: Vec::new(),
        start: 0,
        fds: Vec::new(),
    };
    let cork = Cork {
        can_pass_fds: write.can_pass_unix_fd(),
        state: Arc::new(async_lock::Mutex::new(Corked {
            socket: write,
            held: false,
            kept: Vec::new(),
        })),
    };
    let split: BoxedSplit = Split::new(Box::new(reader), Box::new(cork.clone()));
    let conn = zbus::connection::Builder::socket(split)
        .p2p()
        .auth_mechanism(zbus::AuthMechanism::External)
        .internal_executor(false)
        .build()
        .await?;
    Ok((conn, cork))
}

/// The connection's write half, which can keep messages back while a burst of them is made and
/// then send them in one write (see [`Cork::in_one_write`]).
#[derive(Clone, Debug)]
pub struct Cork {
    state: Arc<async_lock::Mutex<Corked>>,
    can_pass_fds: bool,
}

/// Kept back, at most: about a hundred small requests, one write.
const KEPT_AT_MOST: usize = 16 << 10;

#[derive(Debug)]
struct Corked {
    socket: Box<dyn WriteHalf>,
    held: bool,
    /// Messages kept back, in the order they were sent.
    kept: Vec<u8>,
}

impl Corked {
    async fn send_kept(&mut self) -> io::Result<()> {
        let mut sent = 0;
        while sent < self.kept.len() {
            match self.socket.sendmsg(&self.kept[sent..], &[]).await {
                Ok(n) => sent += n,
                Err(e) => {
                    // Part of a message may be out: the stream cannot go on. Closed, so the
                    // reader fails every call waiting for a reply instead of leaving it waiting.
                    self.kept.clear();
                    let _ = self.socket.close().await;
                    return Err(e);
                }
            }
        }
        self.kept.clear();
        Ok(())
    }
}

impl Cork {
    /// Runs `requests`, keeping back the messages its first step sends (a burst of calls all
    /// made at once) and sending them a few dozen at a time ([`KEPT_AT_MOST`]) as they pile
    /// up, the rest right after that step. Whatever it sends later
    /// goes out as it comes, so nothing waits on a reply to a message that was never sent.
    pub async fn in_one_write<T>(&self, requests: impl Future<Output = T>) -> T {
        self.state.lock().await.held = true;
        let release = async {
            let mut corked = self.state.lock().await;
            corked.held = false;
            // A failed write closed the socket: each request fails with it.
            let _ = corked.send_kept().await;
        };
        // `join` polls `requests` first, then `release`.
        futures_util::future::join(requests, release).await.0
    }
}

#[zbus::export::async_trait::async_trait]
impl WriteHalf for Cork {
    async fn send_message(&mut self, msg: &zbus::Message) -> zbus::Result<()> {
        let mut corked = self.state.lock().await;
        let data = msg.data();
        if corked.held && data.fds().is_empty() {
            corked.kept.extend_from_slice(data);
            // The manager starts on the first part while the rest is being made.
            if corked.kept.len() >= KEPT_AT_MOST {
                corked.send_kept().await?;
            }
            return Ok(());
        }
        corked.send_kept().await?;
        corked.socket.send_message(msg).await
    }

    async fn sendmsg(&mut self, buffer: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<usize> {
        let mut corked = self.state.lock().await;
        corked.send_kept().await?;
        corked.socket.sendmsg(buffer, fds).await
    }

    async fn close(&mut self) -> io::Result<()> {
        self.state.lock().await.socket.close().await
    }

    fn can_pass_unix_fd(&self) -> bool {
        self.can_pass_fds
    }

    async fn peer_credentials(&mut self) -> io::Result<zbus::fdo::ConnectionCredentials> {
        self.state.lock().await.socket.peer_credentials().await
    }
}

/// Reads whole messages off the socket and renames their sender before zbus parses them. Reads
/// ahead in large chunks: a burst of hundreds of replies then costs a few `recvmsg`s, not two
/// per message.
#[derive(Debug)]
struct RenamingReader {
    inner: Box<dyn ReadHalf>,
    /// Bytes read and not yet handed out, from `start` on.
    ahead: Vec<u8>,
    start: usize,
    /// Descriptors received and not yet handed out, in order.
    fds: Vec<OwnedFd>,
}

/// How much one read asks for.
const CHUNK: usize = 64 << 10;

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
        // What the handshake read ahead comes first.
        if !already_received_bytes.is_empty() {
            let mut first = std::mem::take(already_received_bytes);
            first.extend_from_slice(&self.ahead[self.start..]);
            self.ahead = first;
            self.start = 0;
        }
        if !already_received_fds.is_empty() {
            let mut first = std::mem::take(already_received_fds);
            first.append(&mut self.fds);
            self.fds = first;
        }
        self.fill(PRIMARY_HEADER).await?;
        let total = message_len(&self.ahead[self.start..]).ok_or(zbus::Error::ExcessData)?;
        self.fill(total).await?;
        let mut bytes = self.ahead[self.start..self.start + total].to_vec();
        self.start += total;
        rename_sender(&mut bytes);
        let wanted = unix_fds(&bytes).min(self.fds.len());
        let mut fds: Vec<OwnedFd> = self.fds.drain(..wanted).collect();
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
    /// Reads until at least `len` unconsumed bytes are at hand.
    async fn fill(&mut self, len: usize) -> zbus::Result<()> {
        if self.ahead.len() - self.start >= len {
            return Ok(());
        }
        // What is left is less than one message: cheap to move to the front.
        self.ahead.drain(..self.start);
        self.start = 0;
        while self.ahead.len() < len {
            let have = self.ahead.len();
            self.ahead.resize(have + CHUNK.max(len - have), 0);
            let got = self.inner.recvmsg(&mut self.ahead[have..]).await;
            let read = match &got {
                Ok((read, _)) => *read,
                Err(_) => 0,
            };
            self.ahead.truncate(have + read);
            let (_, received) = got?;
            if read == 0 {
                return Err(zbus::Error::InputOutput(
                    io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the manager closed the connection",
                    )
                    .into(),
                ));
            }
            self.fds.extend(received);
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

/// The header fields (an array of `(yv)` structs, each 8-aligned) of a whole message: code,
/// type and where the value lies (a string's with its length before and NUL after). Stops at anything it does not know how to step over; zbus then
/// judges the message itself.
fn fields(msg: &[u8]) -> Vec<(u8, u8, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let Some(&endian) = msg.first() else {
        return out;
    };
    let little = endian == b'l';
    let Some(fields_len) = read_u32(msg, 12, little) else {
        return out;
    };
    let end = PRIMARY_HEADER + fields_len as usize;
    if end > msg.len() {
        return out;
    }
    let mut at = PRIMARY_HEADER;
    while at < end {
        at = align(at, 8);
        // code, signature length (1), one type character, NUL
        let Some(&[code, 1, ty, 0]) = msg.get(at..at + 4) else {
            return out;
        };
        at += 4;
        let value = match ty {
            b's' | b'o' => {
                let Some(len) = read_u32(msg, at, little) else {
                    return out;
                };
                // length, the string, its NUL
                at..at + 4 + len as usize + 1
            }
            b'g' => {
                let Some(&len) = msg.get(at) else {
                    return out;
                };
                at..at + 1 + len as usize + 1
            }
            b'u' | b'i' | b'b' => align(at, 4)..align(at, 4) + 4,
            b'y' => at..at + 1,
            b'n' | b'q' => align(at, 2)..align(at, 2) + 2,
            b'x' | b't' | b'd' => align(at, 8)..align(at, 8) + 8,
            _ => return out,
        };
        if value.end > end {
            return out;
        }
        at = value.end;
        out.push((code, ty, value));
    }
    out
}

/// Replaces a Sender field of `org.freedesktop.systemd1` with [`PRIVATE_PEER`].
fn rename_sender(msg: &mut [u8]) {
    let sender = fields(msg)
        .into_iter()
        .find(|(code, ty, _)| *code == FIELD_SENDER && *ty == b's');
    if let Some((_, _, value)) = sender {
        // past the length, before the NUL
        let name = value.start + 4..value.end - 1;
        if &msg[name.clone()] == SYSTEMD_NAME {
            msg[name].copy_from_slice(PRIVATE_PEER.as_bytes());
        }
    }
}

/// How many descriptors the message carries (its UNIX_FDS field).
fn unix_fds(msg: &[u8]) -> usize {
    let little = msg.first() == Some(&b'l');
    fields(msg)
        .into_iter()
        .find(|(code, ty, _)| *code == FIELD_UNIX_FDS && *ty == b'u')
        .and_then(|(_, _, value)| read_u32(msg, value.start, little))
        .map_or(0, |n| n as usize)
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
            // What zbus#1497 is about: as sent, zbus takes the message in but cannot read its
            // header (it panics on the sender it only accepts as a unique name).
            let raw = parse(bytes.clone(), little);
            let unreadable = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                raw.map(|m| m.header().sender().map(|s| s.to_string()))
            }));
            assert!(!matches!(unreadable, Ok(Ok(Some(_)))));
            let mut renamed = bytes;
            rename_sender(&mut renamed);
            assert_eq!(unix_fds(&renamed), 0);
            let msg = parse(renamed, little).expect("renamed message parses");
            let header = msg.header();
            assert_eq!(header.sender().unwrap().as_str(), PRIVATE_PEER);
            assert_eq!(header.destination().unwrap().as_str(), ":1.42");
            assert_eq!(header.reply_serial().unwrap().get(), 7);
            let (path,): (String,) = msg.body().deserialize().unwrap();
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
