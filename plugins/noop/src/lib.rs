//! Noop: a handler that does nothing. The bench times instantiate, call and drop of it: what
//! the sandbox costs every message before the plugin does any work.

use switchyard_sdk::{Message, Result};

fn noop(_msg: Message) -> Result<()> {
    Ok(())
}

switchyard_sdk::handler!(noop);
