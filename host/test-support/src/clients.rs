//! Mosquitto's command-line clients (`mosquitto_pub`, `mosquitto_sub`) as tests run them
//! against the embedded broker: once to the end, or in the background until they have heard
//! what they wait for.

use std::process::{Command, Output, Stdio};
use std::sync::mpsc;

/// Runs `program` with `args` to the end.
pub fn run(program: &str, args: &[String]) -> Output {
    (Command::new(program).args(args).output()).unwrap_or_else(|e| panic!("running {program}: {e}"))
}

/// What a client printed, standard output then standard error.
pub fn printed(output: &Output) -> String {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    format!("{}{}", text(&output.stdout), text(&output.stderr))
}

/// A `mosquitto_sub` in the background (give it `-C n` so that it ends).
pub struct Listening(mpsc::Receiver<std::io::Result<Output>>);

impl Listening {
    pub fn start(args: &[String]) -> Listening {
        let child = (Command::new("mosquitto_sub")
            .args(args)
            .stdout(Stdio::piped())
            .spawn())
        .expect("starting mosquitto_sub");
        let (ended, ending) = mpsc::channel();
        std::thread::spawn(move || ended.send(child.wait_with_output()));
        Listening(ending)
    }

    /// What it printed, once it has ended.
    pub fn heard(&self) -> Option<Output> {
        self.0
            .try_recv()
            .ok()
            .map(|output| output.expect("mosquitto_sub ran"))
    }
}

/// `args` as owned strings, to extend a connection's.
pub fn args(connection: &[String], more: &[&str]) -> Vec<String> {
    let mut all = connection.to_vec();
    all.extend(more.iter().map(|arg| (*arg).to_owned()));
    all
}
