//! Integration tests of switchyard-mqtt against real brokers: the embedded one and Mosquitto
//! (installed by scripts/install-mosquitto.sh). One test binary, to link once.

mod common;
mod embedded;
mod mosquitto;
