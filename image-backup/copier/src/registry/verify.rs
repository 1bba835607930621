//! A byte stream that checks size and digest as it passes through, and holds back its last
//! chunk until the check succeeds, so a receiver never gets a complete body whose digest is
//! wrong: the upload fails instead of being committed.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures::Stream;

use crate::digest::{Digest, Hasher};
use crate::error::Error;

/// What went wrong on the source side of a verified stream, for the caller to report instead
/// of the upload's own (less telling) error.
#[derive(Clone, Default)]
pub struct Failure(Arc<Mutex<Option<Error>>>);

impl Failure {
    fn set(&self, error: Error) {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(error);
    }

    pub fn take(&self) -> Option<Error> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Called with the size of each chunk read from the source.
pub type OnBytes = Arc<dyn Fn(u64) + Send + Sync>;

pub struct Verified<S> {
    inner: S,
    what: String,
    expected: Digest,
    expected_size: u64,
    seen: u64,
    hasher: Option<Hasher>,
    held: Option<Bytes>,
    finished: bool,
    failure: Failure,
    on_bytes: OnBytes,
}

impl<S> Verified<S> {
    pub fn new(
        inner: S,
        what: String,
        expected: Digest,
        expected_size: u64,
        failure: Failure,
        on_bytes: OnBytes,
    ) -> Self {
        Verified {
            inner,
            what,
            hasher: Some(Hasher::new(expected.algorithm())),
            expected,
            expected_size,
            seen: 0,
            held: None,
            finished: false,
            failure,
            on_bytes,
        }
    }

    fn fail(&mut self, error: Error) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        let message = error.to_string();
        self.failure.set(error);
        self.finished = true;
        Poll::Ready(Some(Err(std::io::Error::other(message))))
    }
}

impl<S> Stream for Verified<S>
where
    S: Stream<Item = Result<Bytes, Error>> + Unpin,
{
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(None);
        }
        loop {
            match ready!(Pin::new(&mut this.inner).poll_next(cx)) {
                Some(Ok(chunk)) => {
                    if chunk.is_empty() {
                        continue;
                    }
                    this.seen += chunk.len() as u64;
                    if this.seen > this.expected_size {
                        let error = Error::DigestMismatch {
                            what: this.what.clone(),
                            expected: this.expected.clone(),
                            actual: format!(
                                "more than the {} bytes the descriptor declares",
                                this.expected_size
                            ),
                        };
                        return this.fail(error);
                    }
                    if let Some(h) = this.hasher.as_mut() {
                        h.update(&chunk);
                    }
                    (this.on_bytes)(chunk.len() as u64);
                    if let Some(previous) = this.held.replace(chunk) {
                        return Poll::Ready(Some(Ok(previous)));
                    }
                }
                Some(Err(error)) => return this.fail(error),
                None => {
                    this.finished = true;
                    let actual = this.hasher.take().map(Hasher::finish);
                    if this.seen != this.expected_size {
                        let error = Error::DigestMismatch {
                            what: this.what.clone(),
                            expected: this.expected.clone(),
                            actual: format!(
                                "{} bytes instead of the {} the descriptor declares",
                                this.seen, this.expected_size
                            ),
                        };
                        return this.fail(error);
                    }
                    if actual.as_ref() != Some(&this.expected) {
                        let error = Error::DigestMismatch {
                            what: this.what.clone(),
                            expected: this.expected.clone(),
                            actual: actual.map(|d| d.to_string()).unwrap_or_default(),
                        };
                        return this.fail(error);
                    }
                    return Poll::Ready(this.held.take().map(Ok));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn run(
        chunks: Vec<&'static [u8]>,
        expected: &[u8],
    ) -> (Vec<Result<Bytes, String>>, Failure, u64) {
        let failure = Failure::default();
        let counted = Arc::new(AtomicU64::new(0));
        let c = counted.clone();
        let inner = futures::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, Error>(Bytes::from_static(c))),
        );
        let stream = Verified::new(
            inner,
            "blob".into(),
            Digest::sha256(expected),
            expected.len() as u64,
            failure.clone(),
            Arc::new(move |n| {
                c.fetch_add(n, Ordering::Relaxed);
            }),
        );
        let out = futures::executor::block_on(
            stream
                .map(|r| r.map_err(|e| e.to_string()))
                .collect::<Vec<_>>(),
        );
        (out, failure, counted.load(Ordering::Relaxed))
    }

    #[test]
    fn passes_good_bytes_through() {
        let (out, failure, n) = run(vec![b"ab", b"", b"cd", b"e"], b"abcde");
        let joined: Vec<u8> = out.into_iter().flat_map(|c| c.unwrap().to_vec()).collect();
        assert_eq!(joined, b"abcde");
        assert!(failure.take().is_none());
        assert_eq!(n, 5);
    }

    #[test]
    fn withholds_the_last_chunk_on_mismatch() {
        let (out, failure, _) = run(vec![b"ab", b"cX"], b"abcd");
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].as_ref().unwrap().as_ref(), b"ab");
        assert!(out[1].as_ref().unwrap_err().contains("digest mismatch"));
        assert!(matches!(failure.take(), Some(Error::DigestMismatch { .. })));
    }

    #[test]
    fn detects_short_and_long_bodies() {
        let (out, failure, _) = run(vec![b"abc"], b"abcd");
        assert!(
            out.last()
                .unwrap()
                .as_ref()
                .unwrap_err()
                .contains("3 bytes instead of the 4")
        );
        assert!(failure.take().is_some());
        let (out, _, _) = run(vec![b"ab", b"cde"], b"abcd");
        assert!(
            out.last()
                .unwrap()
                .as_ref()
                .unwrap_err()
                .contains("more than the 4")
        );
    }
}
