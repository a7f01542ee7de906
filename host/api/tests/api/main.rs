//! The REST API against a real store in a temporary directory, a real runtime and the broker
//! registry, driven through the router without a socket.

mod auth;
#[path = "../../../../tests/support/plugins.rs"]
mod built;
mod clients;
mod common;
mod indexes;
mod objects;
mod openapi;
mod plugins;
mod ui;
