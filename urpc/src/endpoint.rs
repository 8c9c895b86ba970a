//! One side of a two-way channel.

use crate::error::{RecvError, SendError};
use crate::message::Message;
use crate::receiver::{Armed, Received, Receiver};
use crate::sender::{BytesSent, Notify, Sender};

/// One side of a channel: a [`Sender`] on its outgoing ring and a [`Receiver`] on its incoming
/// ring. The methods forward to the halves; [`Endpoint::split`] separates them.
#[derive(Debug)]
pub struct Endpoint<'a, const N: usize = { crate::DEFAULT_SLOTS }> {
    tx: Sender<'a, N>,
    rx: Receiver<'a, N>,
}

impl<'a, const N: usize> Endpoint<'a, N> {
    /// Join a sender and a receiver (normally of the two rings of one channel).
    pub fn from_parts(tx: Sender<'a, N>, rx: Receiver<'a, N>) -> Endpoint<'a, N> {
        Endpoint { tx, rx }
    }

    /// The two halves.
    pub fn split(self) -> (Sender<'a, N>, Receiver<'a, N>) {
        (self.tx, self.rx)
    }

    /// The sending half.
    pub fn sender(&mut self) -> &mut Sender<'a, N> {
        &mut self.tx
    }

    /// The receiving half.
    pub fn receiver(&mut self) -> &mut Receiver<'a, N> {
        &mut self.rx
    }

    /// See [`Sender::try_send`].
    #[inline]
    pub fn try_send(&mut self, msg: &Message) -> Result<Notify, SendError> {
        self.tx.try_send(msg)
    }

    /// See [`Sender::try_send_bytes`].
    pub fn try_send_bytes(&mut self, tag: u16, data: &[u8]) -> Result<BytesSent, SendError> {
        self.tx.try_send_bytes(tag, data)
    }

    /// See [`Receiver::try_recv`].
    #[inline]
    pub fn try_recv(&mut self) -> Result<Message, RecvError> {
        self.rx.try_recv()
    }

    /// See [`Receiver::recv_poll`].
    pub fn recv_poll<F: FnMut() -> bool>(&mut self, keep_polling: F) -> Result<Message, RecvError> {
        self.rx.recv_poll(keep_polling)
    }

    /// See [`Receiver::recv_bytes`].
    pub fn recv_bytes(&mut self, buf: &mut [u8]) -> Result<Received, RecvError> {
        self.rx.recv_bytes(buf)
    }

    /// See [`Receiver::arm_notify`].
    pub fn arm_notify(&mut self) -> Armed {
        self.rx.arm_notify()
    }

    /// See [`Receiver::disarm_notify`].
    pub fn disarm_notify(&mut self) {
        self.rx.disarm_notify()
    }
}
