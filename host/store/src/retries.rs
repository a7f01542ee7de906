//! How a writer that lost a race with another writer of the same object tries again: the
//! policy shared by the API's and MQTT's object writes and by callbacks, whose writes are
//! checked against what they read.

use std::time::Duration;
use tokio::time::Instant;

/// How long a writer keeps trying a write that loses races before it gives up with the
/// conflict. A writer that just lost is a step behind the winner's next write, so under a
/// steady stream of writes from others it may lose many times in a row (measured: 16 tries
/// were not always enough for 8 writers of one object on two instances); it wins once the
/// stream thins out.
const WRITE_PATIENCE: Duration = Duration::from_secs(10);

/// The first pause after a lost race; each further one may be up to twice as long.
const FIRST_PAUSE: Duration = Duration::from_millis(1);

/// The lost races of one write.
pub struct Retries {
    started: Instant,
    lost: u32,
}

impl Default for Retries {
    fn default() -> Retries {
        Retries {
            started: Instant::now(),
            lost: 0,
        }
    }
}

impl Retries {
    /// Counts a lost race: how long to wait before trying again, or `None` once the write has
    /// been tried for [`WRITE_PATIENCE`]. The pause is random, under a cap that doubles with
    /// each loss (up to 64 ms), so writers that keep colliding on one object, on this
    /// instance or on others, fall out of step instead of colliding again at once.
    pub fn lost(&mut self) -> Option<Duration> {
        if self.started.elapsed() >= WRITE_PATIENCE {
            return None;
        }
        self.lost += 1;
        let cap = FIRST_PAUSE.saturating_mul(1 << self.lost.min(6));
        Some(cap.mul_f64(rand::random::<f64>()))
    }
}
