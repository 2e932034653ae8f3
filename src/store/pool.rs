//! Byte buffers that circulate between two threads: a fixed number, reused, so memory stays
//! a handful of buffers however many bytes pass.

use std::sync::mpsc::Receiver;

/// The taking side of a circulation: new buffers until `limit` exist, then those the other
/// thread sends back on `back`.
pub struct BufferPool {
    made: usize,
    limit: usize,
    /// Length of a new buffer (zeroed), for readers that fill a slice; 0 for `Vec` appenders.
    len: usize,
    spare: Option<Vec<u8>>,
    back: Receiver<Vec<u8>>,
}

impl BufferPool {
    pub fn new(limit: usize, len: usize, back: Receiver<Vec<u8>>) -> Self {
        Self {
            made: 0,
            limit,
            len,
            spare: None,
            back,
        }
    }

    /// A buffer, or `None` once the other thread has hung up with every buffer: it stopped
    /// (it failed, and its error is the one to report).
    pub fn get(&mut self) -> Option<Vec<u8>> {
        if let Some(b) = self.spare.take() {
            return Some(b);
        }
        match self.back.try_recv() {
            Ok(b) => Some(b),
            Err(_) if self.made < self.limit => {
                self.made += 1;
                Some(vec![0u8; self.len])
            }
            Err(_) => self.back.recv().ok(),
        }
    }

    /// Keeps a buffer taken but not sent, for the next `get`.
    pub fn keep(&mut self, buf: Vec<u8>) {
        self.spare = Some(buf);
    }
}
